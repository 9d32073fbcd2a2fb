package handlers

// CheckOpenAPIResponse lets the API tests hold every answer they receive against the served OpenAPI document.
var CheckOpenAPIResponse = checkOpenAPIResponse

// ReadinessHold is how long readiness checks must disagree with /readyz's verdict before it changes.
const ReadinessHold = readinessHold
