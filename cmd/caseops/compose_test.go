package main

// These tests hold docker-compose.yml and the Dockerfile to the binary they run: the compose file loads as
// `docker compose` loads it, every variable set is one the command reads, every command line parses, and the
// image is built the way the deployment assumes. No Docker engine is needed; what they cannot see (that images
// pull, build and start) is left to `docker compose up`.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"go/version"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const deployRoot = "../.."

// loadComposeProject loads docker-compose.yml with Compose's own loader, as `docker compose` run in the repository
// would: schema validation, interpolation, normalization and the consistency checks. env is the whole environment
// it interpolates from, so a developer's own CASEOPS_PG_PORT cannot change what the tests see.
func loadComposeProject(t *testing.T, env ...string) *types.Project {
	t.Helper()
	root, err := filepath.Abs(deployRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker compose would refuse docker-compose.yml: %v", err)
	}
	return p
}

// composeService is the part of Compose's resolved model of a service that the stack relies on.
type composeService struct {
	Image           string
	Build           string // the build context, relative to the repository, and its Dockerfile
	Command         []string
	Environment     map[string]string
	Ports           []string // HOST_IP:PUBLISHED->TARGET/PROTOCOL
	Volumes         []string // TYPE SOURCE:TARGET
	Healthcheck     composeHealthcheck
	DependsOn       map[string]string // service: condition, for dependencies Compose requires
	Restart         string
	StopGracePeriod composeDuration
}

type composeHealthcheck struct {
	Test                           []string
	Interval, Timeout, StartPeriod composeDuration
	Retries                        uint64
}

// composeDuration is a compose duration, shown as Go writes it (2s) when a test prints a service.
type composeDuration time.Duration

func (d composeDuration) String() string               { return time.Duration(d).String() }
func (d composeDuration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func composeServices(t *testing.T, p *types.Project) map[string]composeService {
	t.Helper()
	out := map[string]composeService{}
	for name, s := range p.Services {
		c := composeService{Image: s.Image, Command: s.Command, Restart: s.Restart, Environment: map[string]string{}}
		if s.Build != nil {
			dir, err := filepath.Rel(p.WorkingDir, s.Build.Context)
			if err != nil {
				t.Fatal(err)
			}
			c.Build = dir + " " + s.Build.Dockerfile
		}
		for k, v := range s.Environment {
			if v == nil {
				t.Errorf("%s: %s is set from the environment of whoever runs compose; want a value", name, k)
				continue
			}
			c.Environment[k] = *v
		}
		for _, port := range s.Ports {
			c.Ports = append(c.Ports, port.HostIP+":"+port.Published+"->"+strconv.FormatUint(uint64(port.Target), 10)+"/"+port.Protocol)
		}
		for _, v := range s.Volumes {
			c.Volumes = append(c.Volumes, v.Type+" "+v.Source+":"+v.Target)
		}
		if hc := s.HealthCheck; hc != nil {
			c.Healthcheck = composeHealthcheck{Test: hc.Test, Interval: duration(hc.Interval), Timeout: duration(hc.Timeout),
				StartPeriod: duration(hc.StartPeriod)}
			if hc.Retries != nil {
				c.Healthcheck.Retries = *hc.Retries
			}
		}
		for dep, d := range s.DependsOn {
			if !d.Required {
				t.Errorf("%s: depends_on %s is not required, so Compose starts %s without it", name, dep, name)
			}
			if c.DependsOn == nil {
				c.DependsOn = map[string]string{}
			}
			c.DependsOn[dep] = d.Condition
		}
		c.StopGracePeriod = duration(s.StopGracePeriod)
		out[name] = c
	}
	return out
}

func duration(d *types.Duration) composeDuration {
	if d == nil {
		return 0
	}
	return composeDuration(*d)
}

const databaseURLInCompose = "postgres://postgres:caseops@postgres:5432/caseops?sslmode=disable"

// TestComposeModel asserts the whole of what `docker compose up` would run, as Compose itself resolves the file.
func TestComposeModel(t *testing.T) {
	t.Parallel()
	p := loadComposeProject(t)
	want := map[string]composeService{
		"postgres": {
			Image:       "postgres:15.20-bookworm",
			Environment: map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "caseops", "POSTGRES_DB": "caseops"},
			Ports:       []string{"127.0.0.1:5433->5432/tcp"},
			Volumes:     []string{"volume pgdata:/var/lib/postgresql/data"},
			Healthcheck: composeHealthcheck{
				Test:     []string{"CMD", "pg_isready", "--host=127.0.0.1", "--username=postgres", "--dbname=caseops"},
				Interval: seconds(2), Timeout: seconds(5), StartPeriod: seconds(30), Retries: 30,
			},
			Restart: "unless-stopped",
		},
		"migrate": {
			Image:       "caseops:dev",
			Build:       ". Dockerfile",
			Command:     []string{"migrate", "up"},
			Environment: map[string]string{"DATABASE_URL": databaseURLInCompose},
			DependsOn:   map[string]string{"postgres": "service_healthy"},
			Restart:     "no",
		},
		"api": {
			Image:   "caseops:dev",
			Build:   ". Dockerfile",
			Command: []string{"serve", "--migrate=false"},
			Environment: map[string]string{
				"DATABASE_URL":       databaseURLInCompose,
				"CASEOPS_ADDR":       ":8080",
				"CASEOPS_LOG_FORMAT": "text",
			},
			Ports: []string{"127.0.0.1:8080->8080/tcp"},
			Healthcheck: composeHealthcheck{
				Test:     []string{"CMD", "/caseops", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"},
				Interval: seconds(10), Timeout: seconds(5), StartPeriod: seconds(10), Retries: 3,
			},
			DependsOn:       map[string]string{"postgres": "service_healthy", "migrate": "service_completed_successfully"},
			Restart:         "unless-stopped",
			StopGracePeriod: seconds(30),
		},
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		if s := p.Services[name]; s.Build == nil {
			requirePinnedImage(t, "service "+name+" image", s.Image)
		}
	}
	got := composeServices(t, p)
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, slices.Sorted(maps.Keys(want))) {
		t.Errorf("services = %q, want %q", names, slices.Sorted(maps.Keys(want)))
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if g, w := indentedJSON(t, got[name]), indentedJSON(t, want[name]); g != w {
			t.Errorf("service %s as Compose resolves it:\n%s\nwant:\n%s", name, g, w)
		}
	}
	// Compose's own volume, named for the project, so `docker compose down --volumes` removes the data it made.
	if names := slices.Sorted(maps.Keys(p.Volumes)); !slices.Equal(names, []string{"pgdata"}) || bool(p.Volumes["pgdata"].External) {
		t.Errorf("volumes = %+v, want only pgdata, not external", p.Volumes)
	}
}

func seconds(n int) composeDuration { return composeDuration(time.Duration(n) * time.Second) }

func indentedJSON(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // ports read 127.0.0.1:5433->5432/tcp
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestComposePostgresPort: the stack's Postgres must not take the port of the local Postgres that the binary's
// default DATABASE_URL (and so `go test` and the README's development setup) uses, and CASEOPS_PG_PORT moves it.
func TestComposePostgresPort(t *testing.T) {
	t.Parallel()
	local, err := url.Parse(defaultDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "5433"},
		{[]string{"CASEOPS_PG_PORT=15432"}, "15432"},
	} {
		ports := loadComposeProject(t, tc.env...).Services["postgres"].Ports
		if len(ports) != 1 {
			t.Fatalf("env %q: postgres ports = %+v, want one", tc.env, ports)
		}
		p := ports[0]
		if p.Published != tc.want || p.Target != 5432 || !net.ParseIP(p.HostIP).IsLoopback() {
			t.Errorf("env %q: postgres publishes %s:%s->%d, want loopback port %s -> 5432", tc.env, p.HostIP, p.Published, p.Target, tc.want)
		}
		if p.Published == local.Port() {
			t.Errorf("env %q: postgres publishes %s, the port of the local Postgres in the default DATABASE_URL %s", tc.env, p.Published, defaultDatabaseURL)
		}
	}
}

// TestComposeRunsTheBinary holds each service to the binary it runs: its command parses, its variables are ones the
// command reads, and the addresses, ports and timeouts agree with the binary's own.
func TestComposeRunsTheBinary(t *testing.T) {
	t.Parallel()
	p := loadComposeProject(t)
	services := composeServices(t, p)
	db, migrate, api := services["postgres"], services["migrate"], services["api"]
	image := dockerfileImage(t)

	t.Run("DATABASE_URL names the postgres service", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"migrate", "api"} {
			raw := services[name].Environment["DATABASE_URL"]
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				t.Errorf("%s: DATABASE_URL %q is not a postgres:// URL", name, raw)
				continue
			}
			if u.Hostname() != "postgres" || (u.Port() != "" && u.Port() != "5432") {
				t.Errorf("%s: DATABASE_URL host = %q, want the service name postgres on 5432", name, u.Host)
			}
			wantUser := cmp.Or(db.Environment["POSTGRES_USER"], "postgres")
			password, _ := u.User.Password()
			if u.User.Username() != wantUser {
				t.Errorf("%s: DATABASE_URL user = %q, postgres service creates %q", name, u.User.Username(), wantUser)
			}
			if db.Environment["POSTGRES_HOST_AUTH_METHOD"] != "trust" && password != db.Environment["POSTGRES_PASSWORD"] {
				t.Errorf("%s: DATABASE_URL password does not match POSTGRES_PASSWORD", name)
			}
			if want := db.Environment["POSTGRES_DB"]; want != "" && strings.TrimPrefix(u.Path, "/") != want {
				t.Errorf("%s: DATABASE_URL database = %q, postgres service creates %q", name, u.Path, want)
			}
			if u.Query().Get("sslmode") != "disable" {
				t.Errorf("%s: DATABASE_URL should say sslmode=disable: the postgres image serves no TLS", name)
			}
		}
	})

	t.Run("migrate", func(t *testing.T) {
		t.Parallel()
		if len(migrate.Command) == 0 || migrate.Command[0] != "migrate" {
			t.Fatalf("migrate command = %q, want migrate ...", migrate.Command)
		}
		// runMigrate has no parse step of its own; these are its flags (see migrate.go).
		s := newSettings("migrate", "", serviceEnv(migrate), io.Discard, io.Discard)
		databaseURLFlag(s)
		if err := s.Parse(migrate.Command[1:]); err != nil {
			t.Errorf("migrate flags %q: %v", migrate.Command[1:], err)
		}
		if rest := s.Flags().Args(); len(rest) != 1 || !slices.Contains([]string{"up", "down", "status", "version"}, rest[0]) {
			t.Errorf("migrate arguments = %q, want one of up, down, status, version", rest)
		}
		requireServiceReads(t, "migrate", migrate, helpVariables(t, runMigrate))
	})

	t.Run("api", func(t *testing.T) {
		t.Parallel()
		if len(api.Command) == 0 || api.Command[0] != "serve" {
			t.Fatalf("api command = %q, want serve ...", api.Command)
		}
		cfg, s, err := parseServe(api.Command[1:], serviceEnv(api), io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("serve %q with the api's environment: %v", api.Command[1:], err)
		}
		if cfg.migrate {
			t.Error("api serves with --migrate on; the migrate service owns the schema, so want --migrate=false")
		}
		_, all, _ := parseServe(nil, func(string) string { return "" }, io.Discard, io.Discard)
		requireServiceReads(t, "api", api, all.Env())

		// Without a JWT setting serve is in development mode, whose default address is loopback: unreachable
		// through a port mapping, so the file must name every interface itself.
		host, port, err := net.SplitHostPort(cfg.addr)
		if err != nil {
			t.Fatalf("serve address %q: %v", cfg.addr, err)
		}
		if ip := net.ParseIP(host); s.Source("addr") != "$CASEOPS_ADDR" || (host != "" && (ip == nil || !ip.IsUnspecified())) {
			t.Errorf("serve listens on %q (from %s); want CASEOPS_ADDR set to every interface, such as :%s", cfg.addr, s.Source("addr"), port)
		}
		if !slices.ContainsFunc(p.Services["api"].Ports, func(p types.ServicePortConfig) bool { return strconv.FormatUint(uint64(p.Target), 10) == port }) {
			t.Errorf("api ports = %q, none publishes the container port %s that serve listens on", api.Ports, port)
		}
		if !slices.Contains(image.exposed, port) {
			t.Errorf("the Dockerfile exposes %q, not serve's port %s", image.exposed, port)
		}

		hc := api.Healthcheck
		if len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != image.entrypoint || hc.Test[2] != "healthcheck" {
			t.Fatalf("api healthcheck = %q, want [CMD %s healthcheck ...]: distroless has no shell, curl or wget", hc.Test, image.entrypoint)
		}
		target, _, err := parseHealthcheck(hc.Test[3:], func(string) string { return "" }, io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("healthcheck %q: %v", hc.Test[3:], err)
		}
		u, _ := url.Parse(target)
		if u.Path != "/readyz" || u.Port() != port || !net.ParseIP(u.Hostname()).IsLoopback() {
			t.Errorf("healthcheck URL = %q, want /readyz on the loopback port %s the API listens on", target, port)
		}
		if time.Duration(hc.Timeout) <= healthcheckTimeout {
			t.Errorf("healthcheck timeout %s, want more than the check's own %s so it reports its reason", hc.Timeout, healthcheckTimeout)
		}
		if time.Duration(api.StopGracePeriod) <= cfg.shutdownTimeout {
			t.Errorf("stop_grace_period %s, want more than --shutdown-timeout %s, or Docker kills requests mid-flight", api.StopGracePeriod, cfg.shutdownTimeout)
		}
	})
}

// requireServiceReads fails for each variable the service sets that its command never reads: a typo, or a setting that does nothing.
func requireServiceReads(t *testing.T, service string, s composeService, reads []string) {
	t.Helper()
	if len(reads) == 0 {
		t.Fatalf("%s: found no variables the command reads", service)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Environment)) {
		if !slices.Contains(reads, name) {
			t.Errorf("%s sets %s, which its command does not read (it reads %s)", service, name, strings.Join(reads, ", "))
		}
	}
}

// TestComposeCommandsAreSubcommands checks that run dispatches every command the compose file gives:
// a real subcommand answers --help.
func TestComposeCommandsAreSubcommands(t *testing.T) {
	t.Parallel()
	services := composeServices(t, loadComposeProject(t))
	entrypoint := dockerfileImage(t).entrypoint
	commands := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if s.Build == "" {
			continue // not our image
		}
		commands[firstOrDefault(s.Command, "serve")] = true // the Dockerfile's CMD is serve
		if hc := s.Healthcheck; len(hc.Test) > 2 && hc.Test[1] == entrypoint {
			commands[hc.Test[2]] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := run(context.Background(), []string{name, "--help"}, func(string) string { return "" }, io.Discard, io.Discard)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("caseops %s --help: %v; want a subcommand run knows", name, err)
			}
		})
	}
}

// helpVariables lists the variables a command's --help names, the `[$NAME]` after each flag.
func helpVariables(t *testing.T, command func(context.Context, []string, func(string) string, io.Writer, io.Writer) error) []string {
	t.Helper()
	var help bytes.Buffer
	if err := command(context.Background(), []string{"--help"}, func(string) string { return "" }, &help, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`).FindAllStringSubmatch(help.String(), -1) {
		names = append(names, m[1])
	}
	return names
}

func serviceEnv(s composeService) func(string) string {
	return func(k string) string { return s.Environment[k] }
}

// dockerfile is what the compose file and the tests need to know of the image.
type dockerfile struct {
	stages     []dockerStage
	entrypoint string   // the final stage's ENTRYPOINT program
	exposed    []string // the final stage's EXPOSEd ports
}

type dockerStage struct {
	from, name   string
	instructions []dockerInstruction
}

type dockerInstruction struct {
	line          int
	keyword, args string
}

// parseDockerfile splits the Dockerfile into stages of instructions, joining continued lines.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var df dockerfile
	var pending strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && pending.Len() == 0) {
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		keyword, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		in := dockerInstruction{line: start, keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)}
		if in.keyword == "FROM" {
			fields := strings.Fields(in.args)
			st := dockerStage{from: firstOrDefault(fields, "")}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.keyword)
		}
		last := &df.stages[len(df.stages)-1]
		last.instructions = append(last.instructions, in)
	}
	if len(df.stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	for _, in := range df.stages[len(df.stages)-1].instructions {
		switch in.keyword {
		case "ENTRYPOINT":
			var argv []string
			if json.Unmarshal([]byte(in.args), &argv) == nil && len(argv) > 0 {
				df.entrypoint = argv[0]
			}
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				df.exposed = append(df.exposed, strings.TrimSuffix(p, "/tcp"))
			}
		}
	}
	return df
}

func dockerfileImage(t *testing.T) dockerfile {
	t.Helper()
	df := parseDockerfile(t)
	if df.entrypoint == "" {
		t.Fatal("the Dockerfile's final stage has no exec-form ENTRYPOINT")
	}
	return df
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	df := parseDockerfile(t)
	stageNames := map[string]bool{}
	for _, st := range df.stages {
		if !stageNames[st.from] {
			requirePinnedImage(t, "Dockerfile FROM", st.from)
		}
		if st.name != "" {
			stageNames[st.name] = true
		}
	}

	build := df.stages[0]
	// The golang image sets GOTOOLCHAIN=local: a Go older than go.mod's go line refuses to build the module.
	modGo := "go" + goDirective(t)
	repo, tag, _ := strings.Cut(build.from, ":")
	imageGo := "go" + strings.TrimSuffix(tag, "-bookworm")
	if repo != "golang" || version.Lang(imageGo) != version.Lang(modGo) || version.Compare(imageGo, modGo) < 0 {
		t.Errorf("build stage FROM %s, want golang:%s.N-bookworm, at least go.mod's go %s", build.from, version.Lang(modGo)[2:], modGo[2:])
	}
	copiedModules, downloaded, copiedSource, built := -1, -1, -1, -1
	for i, in := range build.instructions {
		switch {
		case in.keyword == "COPY" && strings.Fields(in.args)[0] == "go.mod" && strings.Contains(in.args, "go.sum"):
			copiedModules = i
		case in.keyword == "RUN" && strings.Contains(in.args, "go mod download"):
			downloaded = i
		case in.keyword == "COPY" && strings.HasPrefix(in.args, ". "):
			copiedSource = i
		case in.keyword == "RUN" && strings.Contains(in.args, "go build"):
			built = i
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/caseops", "-o " + df.entrypoint} {
				if !strings.Contains(in.args, want) {
					t.Errorf("Dockerfile:%d: go build lacks %q", in.line, want)
				}
			}
		}
	}
	if copiedModules < 0 || downloaded < copiedModules || copiedSource < downloaded || built < copiedSource {
		t.Errorf("build stage order: COPY go.mod go.sum (%d), go mod download (%d), COPY . (%d), go build (%d); "+
			"want them in that order so modules are cached in their own layer", copiedModules, downloaded, copiedSource, built)
	}

	final := df.stages[len(df.stages)-1]
	user, addr := "", ""
	copiedBinary, cmdExec := false, false
	for _, in := range final.instructions {
		switch in.keyword {
		case "USER":
			user = strings.Split(in.args, ":")[0]
		case "ENV":
			if v, ok := strings.CutPrefix(in.args, "CASEOPS_ADDR="); ok {
				addr = v
			}
		case "COPY":
			if strings.Contains(in.args, "--from="+build.name) && strings.HasSuffix(in.args, " "+df.entrypoint) {
				copiedBinary = true
			}
		case "CMD":
			var argv []string
			cmdExec = json.Unmarshal([]byte(in.args), &argv) == nil
			if cmdExec && (len(argv) == 0 || argv[0] != "serve") {
				t.Errorf("Dockerfile:%d: CMD %s, want [\"serve\"]", in.line, in.args)
			}
		case "ENTRYPOINT":
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) != 1 {
				t.Errorf("Dockerfile:%d: ENTRYPOINT %s, want exec form [\"/caseops\"] so signals reach the binary", in.line, in.args)
			}
		}
	}
	if nonRootImage := strings.HasSuffix(final.from, ":nonroot"); user == "root" || user == "0" || (user == "" && !nonRootImage) {
		t.Errorf("final stage runs as %q on %s; want a non-root USER or a :nonroot image", user, final.from)
	}
	if !copiedBinary || df.entrypoint != "/caseops" {
		t.Errorf("final stage should COPY --from=%s the binary to its ENTRYPOINT /caseops (entrypoint %q)", build.name, df.entrypoint)
	}
	if !cmdExec {
		t.Error(`final stage needs CMD ["serve"] in exec form`)
	}
	// Development mode listens on loopback by default, which a port mapping cannot reach.
	if addr != ":8080" {
		t.Errorf("final stage sets CASEOPS_ADDR=%q, want \":8080\" so a published port reaches serve", addr)
	}

	for _, st := range df.stages {
		for _, in := range st.instructions {
			if in.keyword == "ADD" && regexp.MustCompile(`(?i)(https?|ftp)://|git@`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: ADD of a URL fetches unpinned, unverified content; download in a RUN with a checksum", in.line)
			}
			if in.keyword == "MAINTAINER" {
				t.Errorf("Dockerfile:%d: MAINTAINER is deprecated; use a LABEL", in.line)
			}
		}
	}

	ignore, err := os.ReadFile(filepath.Join(deployRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(ignore)), ".git") {
		t.Error(".dockerignore should exclude .git from the build context")
	}
}

// exactTags says, for each base image the deployment uses, what a tag naming one exact release looks like.
var exactTags = map[string]*regexp.Regexp{
	"golang":   regexp.MustCompile(`^\d+\.\d+\.\d+-bookworm$`), // Go's patch release, as 1.26.8-bookworm
	"postgres": regexp.MustCompile(`^\d+\.\d+-bookworm$`),      // Postgres's minor release, as 15.20-bookworm
	// distroless publishes no version tags: the Debian release in the name is as exact as a tag gets.
	"gcr.io/distroless/static-debian12": regexp.MustCompile(`^nonroot$`),
}

// requirePinnedImage fails unless image names a digest or an exact release of an image listed in exactTags.
func requirePinnedImage(t *testing.T, where, image string) {
	t.Helper()
	if strings.Contains(image, "@sha256:") {
		return
	}
	repo, tag, _ := strings.Cut(image, ":")
	form, known := exactTags[repo]
	if !known {
		t.Errorf("%s %s: an image with no entry in exactTags; add what its exact-release tags look like", where, image)
		return
	}
	if !form.MatchString(tag) {
		t.Errorf("%s %s is not pinned: want a tag matching %s, one exact release", where, image, form)
	}
}

// goDirective returns go.mod's go version, as 1.26.0.
func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func firstOrDefault(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}
