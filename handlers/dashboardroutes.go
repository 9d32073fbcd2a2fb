package handlers

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/dashboard"
)

// handleDashboardAsset serves the embedded file name, or the one {file} names when name is "", with headers that
// keep the page to itself.
func handleDashboardAsset(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		file := name
		if file == "" {
			file = c.Param("file")
		}
		a, ok := dashboard.Assets[file]
		if !ok || file == "index.html" && c.Path() != "/" {
			return newError(http.StatusNotFound, "The dashboard has no file "+quote(c.Param("file"))+".")
		}
		h := c.Response().Header()
		h.Set("Content-Security-Policy", dashboard.ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate: a new binary may bring new files
		h.Set("ETag", a.ETag)
		if c.Request().Header.Get("If-None-Match") == a.ETag {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, a.ContentType, a.Body)
	}
}

// signInBodyBytes bounds a sign-in body: a code is 32 characters.
const signInBodyBytes = 1 << 10

// handleSignIn exchanges the development sign-in code (the link serve prints) for the development token, once;
// s is nil outside development mode, where there is no such link.
func handleSignIn(s *dashboard.SignIn) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s == nil {
			return newError(http.StatusNotFound, "Sign-in links exist only when caseops serve runs in development mode; "+
				"sign in with a bearer token.")
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		var body struct {
			Code string `json:"code"`
		}
		b, err := io.ReadAll(io.LimitReader(c.Request().Body, signInBodyBytes+1))
		if err != nil {
			return err
		}
		if len(b) > signInBodyBytes || json.Unmarshal(b, &body) != nil || body.Code == "" {
			return badRequest("code", `The body must be {"code": "..."} with the code of the sign-in link caseops serve printed.`)
		}
		token, ok := s.Redeem(body.Code)
		if !ok {
			return badRequest("code", "The sign-in code is not valid: a code works once and for 10 minutes. "+
				"Sign in with the development token serve printed, or restart serve for a new link.")
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, map[string]string{"token": token})
	}
}
