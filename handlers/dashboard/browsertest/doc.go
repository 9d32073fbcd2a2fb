// Package browsertest drives the caseops dashboard in headless Chromium: a module of its own, so that the
// service's go.mod never carries the browser driver and go test ./... never needs a browser.
package browsertest
