package handlers

// CheckOpenAPIResponse lets the API tests hold every answer they receive against the served OpenAPI document.
var CheckOpenAPIResponse = checkOpenAPIResponse
