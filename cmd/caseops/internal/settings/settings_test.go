package settings

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestVariablesFlagsAndHelp(t *testing.T) {
	t.Parallel()
	env := map[string]string{"X_ADDR": ":9", "X_TIMEOUT": "3s", "X_SECRET": "hunter2-hunter2", "X_ON": "false"}
	var stdout bytes.Buffer
	newSet := func(stderr *bytes.Buffer) (*Set, *string, *time.Duration, *string, *bool, *int) {
		s := New("caseops demo", "caseops demo [flags]", func(k string) string { return env[k] }, &stdout, stderr)
		return s, s.String("addr", "X_ADDR", ":8080", "address"), s.Duration("timeout", "X_TIMEOUT", time.Second, "timeout"),
			s.Secret("secret", "X_SECRET", "key"), s.Bool("on", "X_ON", true, "switch"), s.Int("n", "X_N", 7, "count")
	}

	var stderr bytes.Buffer
	s, addr, timeout, secret, on, n := newSet(&stderr)
	if err := s.Parse([]string{"--addr", ":1"}); err != nil {
		t.Fatal(err)
	}
	if *addr != ":1" || *timeout != 3*time.Second || *secret != "hunter2-hunter2" || *on || *n != 7 {
		t.Errorf("values: %q %s %q %v %d", *addr, *timeout, *secret, *on, *n)
	}
	if got := strings.Join(s.Env(), ","); got != "X_ADDR,X_N,X_ON,X_SECRET,X_TIMEOUT" {
		t.Errorf("Env() = %s", got)
	}

	stderr.Reset()
	s, _, _, _, _, _ = newSet(&stderr)
	if err := s.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	// Help asked for goes to standard output, so that it can be paged or searched.
	help := stdout.String()
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
	for _, want := range []string{"Usage: caseops demo [flags]", `--addr (default ":9")  [$X_ADDR]`, `--secret (default set, not shown)  [$X_SECRET]`} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "hunter2") {
		t.Errorf("help prints the secret")
	}

	env["X_N"] = "many"
	s, _, _, _, _, _ = newSet(&stderr)
	if err := s.Parse(nil); err == nil || err.Error() != `caseops demo: $X_N "many" is not a whole number; run 'caseops demo --help' for the settings` {
		t.Errorf("a bad variable: %v", err)
	}
	delete(env, "X_N")
	s, _, _, _, _, _ = newSet(&stderr)
	if err := s.NoArguments().Parse([]string{"extra"}); err == nil {
		t.Errorf("a positional argument was accepted")
	}

	// An error is one line, left to the caller to print: no usage goes with it.
	stdout.Reset()
	stderr.Reset()
	s, _, _, _, _, _ = newSet(&stderr)
	err := s.Parse([]string{"--bogus"})
	if err == nil || err.Error() != "caseops demo: there is no setting --bogus; run 'caseops demo --help' for the settings" ||
		stdout.Len() != 0 || stderr.Len() != 0 {
		t.Errorf("--bogus: %v; stdout %q; stderr %q", err, stdout.String(), stderr.String())
	}
}

func TestURLHelpMasksThePassword(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	s := New("caseops demo", "caseops demo", func(k string) string { return map[string]string{"X_URL": "postgres://u:hunter2@h/db"}[k] }, &stderr, &stderr)
	u := s.URL("url", "X_URL", "postgres://u@h/db", "database")
	if err := s.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if *u != "postgres://u:hunter2@h/db" {
		t.Errorf("value %q", *u)
	}
	if help := stderr.String(); strings.Contains(help, "hunter2") || !strings.Contains(help, `--url (default "postgres://u:xxxxx@h/db")  [$X_URL]`) {
		t.Errorf("help:\n%s", help)
	}
}
