// Package dashboard is the browser page caseops serve answers at /: plain HTML, CSS and JavaScript embedded in
// the binary, which read the same API as any client, with the token the user signs in with.
package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"path"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Asset is one embedded file, ready to serve.
type Asset struct {
	Body        []byte
	ContentType string
	ETag        string // strong, from the content: the same binary always sends the same tag
}

// contentTypes are the types of the page's files, fixed here: mime.TypeByExtension also reads the host's
// mime.types, which may name them otherwise, and a browser told nosniff runs a script or applies a style sheet
// only under its standard type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// Assets are the page's files by name ("index.html", "app.js", ...).
var Assets = func() map[string]Asset {
	assets := map[string]Asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		contentType, ok := contentTypes[path.Ext(p)]
		if !ok {
			return errors.New("no content type for " + p)
		}
		assets[path.Base(p)] = Asset{Body: b, ContentType: contentType,
			ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("dashboard: " + err.Error()) // an unreadable or untyped file: any test that builds the server finds it
	}
	return assets
}()

// ContentSecurityPolicy allows the page its own files and API and nothing else: no inline script, no other
// origin, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// SignInTTL is how long a development sign-in code stays good.
const SignInTTL = 10 * time.Minute

// SignIn is a one-time code for the development dashboard: the sign-in link serve prints carries it, and the
// page exchanges it once for the development token. It is good for one exchange within SignInTTL.
type SignIn struct {
	mu      sync.Mutex
	code    []byte
	token   string
	expires time.Time
	used    bool
	now     func() time.Time
}

// NewSignIn makes a code that exchanges for token; now is the clock (time.Now unless a test sets one).
func NewSignIn(token string, now func() time.Time) (*SignIn, string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	code := base64.RawURLEncoding.EncodeToString(b)
	return &SignIn{code: []byte(code), token: token, expires: now().Add(SignInTTL), now: now}, code, nil
}

// Redeem exchanges code for the token, once: a wrong code, a used one or one past its time gives ok false.
// A wrong guess does not use the code up.
func (s *SignIn) Redeem(code string) (token string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used || !s.now().Before(s.expires) || subtle.ConstantTimeCompare([]byte(code), s.code) != 1 {
		return "", false
	}
	s.used = true
	return s.token, true
}
