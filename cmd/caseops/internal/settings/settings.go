// Package settings binds a command's flags to environment variables the way every caseops command does:
// the variable gives the default, the flag overrides it, and --help lists both (never a secret's value).
package settings

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caseops/caseops/handlers/spelling"
	"github.com/caseops/caseops/store/redact"
)

// Set is the flags of one command.
type Set struct {
	command string // "caseops serve", as a person types it
	fs      *flag.FlagSet
	getenv  func(string) string
	envOf   map[string]string // flag name -> variable
	secret  map[string]bool   // flags whose value --help must not print
	url     map[string]bool   // flags whose value --help prints with its password masked
	noArgs  bool
	fromEnv map[string]bool // flags whose value came from their variable
	// problems are variables that did not parse, in the order their flags were defined; a flag given on
	// the command line overrides its variable, problem and all.
	problems []problem
	// badValue is the flag value the flag package refused, said for a person.
	badValue string
	// usage goes to stdout when asked for (--help) and to stderr with an error; out is where it goes now.
	stdout, stderr, out io.Writer
}

type problem struct {
	name string
	err  error
}

// New starts the flags of a command: command is how a person types it ("caseops serve"), usage its
// synopsis as --help prints it ("caseops serve [flags]"). --help prints to stdout, as help asked for does.
func New(command, usage string, getenv func(string) string, stdout, stderr io.Writer) *Set {
	s := &Set{command: command, fs: flag.NewFlagSet(command, flag.ContinueOnError), getenv: getenv,
		envOf: map[string]string{}, secret: map[string]bool{}, url: map[string]bool{}, fromEnv: map[string]bool{},
		stdout: stdout, stderr: stderr, out: stderr}
	// The flag package would print its error and the whole usage; an error is one line, printed by the caller.
	s.fs.SetOutput(io.Discard)
	s.fs.Usage = func() {
		stderr := s.out
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags (each overrides its environment variable):\n", usage)
		var names []string
		s.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		for _, n := range names {
			f := s.fs.Lookup(n)
			env := ""
			if v := s.envOf[n]; v != "" {
				env = "  [$" + v + "]"
			}
			def := fmt.Sprintf("%q", f.DefValue)
			if s.secret[n] && f.DefValue != "" {
				def = "set, not shown"
			} else if s.url[n] {
				def = fmt.Sprintf("%q", redact.URL(f.DefValue))
			}
			fmt.Fprintf(stderr, "  --%s (default %s)%s\n      %s\n", n, def, env, f.Usage)
		}
	}
	return s
}

// NoArguments makes Parse refuse positional arguments.
func (s *Set) NoArguments() *Set {
	s.noArgs = true
	return s
}

// Flags is the underlying flag set, for flags that have no environment variable and for positional arguments.
func (s *Set) Flags() *flag.FlagSet { return s.fs }

func (s *Set) env(name, env string) (string, bool) {
	s.envOf[name] = env
	v := s.getenv(env)
	s.fromEnv[name] = v != ""
	return v, v != ""
}

func (s *Set) refuse(name string, err error) { s.problems = append(s.problems, problem{name, err}) }

// Source names where a flag's value came from, for a message about it: "--name" when it was given on the
// command line (or not at all), "$VARIABLE" when its variable set it.
func (s *Set) Source(name string) string {
	if s.fromEnv[name] && !s.given(name) {
		return "$" + s.envOf[name]
	}
	return "--" + name
}

func (s *Set) given(name string) bool {
	given := false
	s.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// String is a string flag read from env by default.
func (s *Set) String(name, env, def, help string) *string {
	if v, ok := s.env(name, env); ok {
		def = v
	}
	return s.fs.String(name, def, help)
}

// Secret is a String whose value --help never prints.
func (s *Set) Secret(name, env, help string) *string {
	s.secret[name] = true
	return s.String(name, env, "", help)
}

// URL is a String holding a connection URL: --help shows its value with the password masked.
func (s *Set) URL(name, env, def, help string) *string {
	s.url[name] = true
	return s.String(name, env, def, help)
}

// Bool is a boolean flag read from env by default.
func (s *Set) Bool(name, env string, def bool, help string) *bool {
	if v, ok := s.env(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.refuse(name, fmt.Errorf("$%s %q %s", env, v, expected(false, err)))
		}
		def = b
	}
	return s.fs.Bool(name, def, help)
}

// Int is an integer flag read from env by default.
func (s *Set) Int(name, env string, def int, help string) *int {
	if v, ok := s.env(name, env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.refuse(name, fmt.Errorf("$%s %q %s", env, v, expected(0, err)))
		}
		def = n
	}
	return s.fs.Int(name, def, help)
}

// Float is a number flag read from env by default.
func (s *Set) Float(name, env string, def float64, help string) *float64 {
	if v, ok := s.env(name, env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.refuse(name, fmt.Errorf("$%s %q %s", env, v, expected(0.0, err)))
		}
		def = f
	}
	return s.fs.Float64(name, def, help)
}

// Duration is a duration flag read from env by default.
func (s *Set) Duration(name, env string, def time.Duration, help string) *time.Duration {
	if v, ok := s.env(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.refuse(name, fmt.Errorf("$%s %q %s", env, v, expected(time.Duration(0), err)))
		}
		def = d
	}
	return s.fs.Duration(name, def, help)
}

// Parse reads the flags; --help prints the usage and returns flag.ErrHelp. Any other problem, with a flag
// or with a variable, is an *Error: one line that names the setting, its value and what it must be.
func (s *Set) Parse(args []string) error {
	s.fs.VisitAll(func(f *flag.Flag) {
		if _, done := f.Value.(checkedValue); !done {
			f.Value = checkedValue{f.Value, f.Name, s}
		}
	})
	var usage bytes.Buffer
	s.out = &usage
	s.badValue = ""
	err := s.fs.Parse(args)
	s.out = s.stderr
	if errors.Is(err, flag.ErrHelp) {
		_, _ = usage.WriteTo(s.stdout)
		return err
	}
	if err != nil {
		return s.flagError(err)
	}
	var errs []error
	for _, p := range s.problems {
		if !s.given(p.name) {
			errs = append(errs, p.err)
		}
	}
	if err := s.Invalid(errs...); err != nil {
		return err
	}
	if s.noArgs && s.fs.NArg() > 0 {
		arg := s.fs.Arg(0)
		if _, err := strconv.ParseBool(arg); err == nil {
			// "--migrate false" sets --migrate to true and leaves "false" over, which must not pass unnoticed.
			return s.Errorf("unexpected argument %q: a true/false flag takes its value after =, as in --flag=%s", arg, arg)
		}
		return s.Errorf("unexpected argument %q (quote a value that has spaces)", arg)
	}
	return nil
}

// flagError says for a person what the flag package refused; its own messages name flags with one dash.
func (s *Set) flagError(err error) error {
	if s.badValue != "" {
		return s.Errorf("%s", s.badValue)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		s.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if near := spelling.Nearest(name, names); near != "" {
			return s.Errorf("there is no setting --%s (did you mean --%s?)", name, near)
		}
		return s.Errorf("there is no setting --%s", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return s.Errorf("--%s needs a value", name)
	}
	if arg, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return s.Errorf("%q is not a setting: give --name value or --name=value", arg)
	}
	return s.Errorf("%s", msg)
}

// checkedValue is a flag's value that keeps, for Parse, what was wrong with a value it refused.
type checkedValue struct {
	flag.Value
	name string
	s    *Set
}

func (v checkedValue) Set(value string) error {
	err := v.Value.Set(value)
	if err != nil {
		var kind any
		if g, ok := v.Value.(flag.Getter); ok {
			kind = g.Get()
		}
		v.s.badValue = fmt.Sprintf("--%s %q %s", v.name, value, expected(kind, err))
	}
	return err
}

// IsBoolFlag keeps a true/false flag one that needs no value.
func (v checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// expected says what a value of kind's type must look like; err is why strconv or time refused one.
func expected(kind any, err error) string {
	if errors.Is(err, strconv.ErrRange) || err.Error() == "value out of range" {
		return "is too large a number"
	}
	switch kind.(type) {
	case bool:
		return "is not true or false"
	case int, int64, uint, uint64:
		return "is not a whole number"
	case float64:
		return "is not a number"
	case time.Duration:
		return "is not a duration such as 90s, 15m or 2h"
	}
	return "cannot be used: " + err.Error()
}

// Error is settings a command cannot run with, as one line for a person: the command, each problem,
// and where the settings are listed.
type Error struct {
	Command  string   // "caseops serve"
	Problems []string // each names a setting, its value and what it must be
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s; run '%s --help' for the settings", e.Command, strings.Join(e.Problems, "; "), e.Command)
}

// Errorf is a problem with this command's settings, as an *Error.
func (s *Set) Errorf(format string, a ...any) error {
	return s.Invalid(fmt.Errorf(format, a...))
}

// Invalid reports every non-nil problem with this command's settings as one *Error; nil when there is none.
func (s *Set) Invalid(problems ...error) error {
	e := &Error{Command: s.command}
	for _, p := range problems {
		if p == nil {
			continue
		}
		var inner *Error
		if errors.As(p, &inner) {
			e.Problems = append(e.Problems, inner.Problems...)
		} else {
			e.Problems = append(e.Problems, p.Error())
		}
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Given reports whether a setting was given at all, by its flag or by its variable, rather than left to its default.
func (s *Set) Given(name string) bool { return s.given(name) || s.fromEnv[name] }

// Env lists every variable the command reads, for tools that check the deployment files against it.
func (s *Set) Env() []string {
	var out []string
	for _, v := range s.envOf {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
