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
	"time"

	"github.com/caseops/caseops/store/redact"
)

// Set is the flags of one command.
type Set struct {
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
	// usage goes to stdout when asked for (--help) and to stderr with an error; out is where it goes now.
	stdout, stderr, out io.Writer
}

type problem struct {
	name string
	err  error
}

// New starts the flags of a command; usage is its synopsis as --help prints it ("caseops serve [flags]").
// --help prints to stdout, as help asked for does; the usage that goes with an error goes to stderr.
func New(name, usage string, getenv func(string) string, stdout, stderr io.Writer) *Set {
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv,
		envOf: map[string]string{}, secret: map[string]bool{}, url: map[string]bool{}, fromEnv: map[string]bool{},
		stdout: stdout, stderr: stderr, out: stderr}
	// The flag package would print its error before the usage; the command's caller prints it once, after.
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
			s.refuse(name, fmt.Errorf("$%s: %q is not true or false", env, v))
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
			s.refuse(name, fmt.Errorf("$%s: %q is not an integer", env, v))
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
			s.refuse(name, fmt.Errorf("$%s: %q is not a number", env, v))
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
			s.refuse(name, fmt.Errorf("$%s: %q is not a duration such as 10s", env, v))
		}
		def = d
	}
	return s.fs.Duration(name, def, help)
}

// Parse reads the flags; --help prints the usage and returns flag.ErrHelp. A variable that does not parse
// is an error naming it.
func (s *Set) Parse(args []string) error {
	var usage bytes.Buffer
	s.out = &usage
	err := s.fs.Parse(args)
	s.out = s.stderr
	if errors.Is(err, flag.ErrHelp) {
		_, _ = usage.WriteTo(s.stdout)
	} else {
		_, _ = usage.WriteTo(s.stderr)
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range s.problems {
		if !s.given(p.name) {
			errs = append(errs, p.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if s.noArgs && s.fs.NArg() > 0 {
		s.fs.Usage()
		arg := s.fs.Arg(0)
		if _, err := strconv.ParseBool(arg); err == nil {
			// "--migrate false" sets --migrate to true and leaves "false" over, which must not pass unnoticed.
			return fmt.Errorf("unexpected argument %q: a true/false flag takes its value after =, as in --flag=%s", arg, arg)
		}
		return fmt.Errorf("unexpected argument %q (quote a value that has spaces)", arg)
	}
	return nil
}

// Env lists every variable the command reads, for tools that check the deployment files against it.
func (s *Set) Env() []string {
	var out []string
	for _, v := range s.envOf {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
