package main

// These tests hold docker-compose.yml and the Dockerfile to the binary they run: every variable set is one the
// command reads, every command line parses, and the image is built the way the deployment assumes.
// No Docker engine is needed; what they cannot see (that images pull and start) is left to `docker compose up`.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

const deployRoot = "../.."

type composeFile struct {
	Name       string                    `yaml:"name"`
	Services   map[string]composeService `yaml:"services"`
	Volumes    map[string]any            `yaml:"volumes"`
	Extensions map[string]any            `yaml:",inline"` // x-* keys, the anchors the services share
}

type composeService struct {
	Image           string                      `yaml:"image"`
	Build           any                         `yaml:"build"`
	Command         []string                    `yaml:"command"`
	Environment     map[string]string           `yaml:"environment"`
	Ports           []string                    `yaml:"ports"`
	Volumes         []string                    `yaml:"volumes"`
	DependsOn       map[string]composeDependsOn `yaml:"depends_on"`
	Healthcheck     *composeHealthcheck         `yaml:"healthcheck"`
	Restart         string                      `yaml:"restart"`
	StopGracePeriod string                      `yaml:"stop_grace_period"`
}

type composeDependsOn struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key (healtcheck, depends-on) would otherwise be silently ignored by this test
	var f composeFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for k := range f.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("docker-compose.yml: unexpected top-level key %q", k)
		}
	}
	return f
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	f := loadCompose(t)
	if got := slices.Sorted(maps.Keys(f.Services)); !slices.Equal(got, []string{"api", "migrate", "postgres"}) {
		t.Fatalf("services = %v, want api, migrate and postgres", got)
	}
	db, migrate, api := f.Services["postgres"], f.Services["migrate"], f.Services["api"]
	image := dockerfileImage(t)

	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		repo, tag, _ := strings.Cut(db.Image, ":")
		if repo != "postgres" || !regexp.MustCompile(`^\d+\.\d+(-[a-z0-9.]+)?$`).MatchString(tag) {
			t.Errorf("postgres image = %q, want postgres:MAJOR.MINOR[-variant], pinned to a minor release", db.Image)
		}
		if hc := db.Healthcheck; hc == nil || len(hc.Test) < 2 || !slices.Contains(hc.Test, "pg_isready") {
			t.Errorf("postgres healthcheck = %+v, want a pg_isready check", db.Healthcheck)
		}
		volume, mountPoint, _ := strings.Cut(firstOrDefault(db.Volumes, ""), ":")
		if _, declared := f.Volumes[volume]; !declared || mountPoint != "/var/lib/postgresql/data" {
			t.Errorf("postgres volumes = %v, want a named volume (declared under volumes:) on /var/lib/postgresql/data", db.Volumes)
		}
	})

	t.Run("DATABASE_URL names the postgres service", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"migrate", "api"} {
			raw := f.Services[name].Environment["DATABASE_URL"]
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
		if migrate.Build == nil {
			t.Error("migrate is not built from the Dockerfile")
		}
		if !slices.Equal(migrate.Command, []string{"migrate", "up"}) {
			t.Errorf("migrate command = %q, want [migrate up]", migrate.Command)
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
		if migrate.Restart != "no" {
			t.Errorf("migrate restart = %q, want \"no\": it runs once", migrate.Restart)
		}
		requireServiceDependsOn(t, "migrate", migrate, map[string]string{"postgres": "service_healthy"})
	})

	t.Run("api", func(t *testing.T) {
		t.Parallel()
		if api.Build == nil {
			t.Error("api is not built from the Dockerfile")
		}
		if len(api.Command) == 0 || api.Command[0] != "serve" {
			t.Fatalf("api command = %q, want serve ...", api.Command)
		}
		cfg, s, err := parseServe(api.Command[1:], serviceEnv(api), io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("serve %q with the api's environment: %v", api.Command[1:], err)
		}
		if rest := s.Flags().Args(); len(rest) > 0 {
			t.Errorf("serve ignores the arguments %q", rest)
		}
		if cfg.migrate {
			t.Error("api serves with --migrate on; the migrate service owns the schema, so want --migrate=false")
		}
		_, all, _ := parseServe(nil, func(string) string { return "" }, io.Discard, io.Discard)
		requireServiceReads(t, "api", api, all.Env())
		requireServiceDependsOn(t, "api", api, map[string]string{
			"postgres": "service_healthy",
			"migrate":  "service_completed_successfully",
		})

		_, port, err := net.SplitHostPort(cfg.addr)
		if err != nil {
			t.Fatalf("serve address %q: %v", cfg.addr, err)
		}
		if !slices.ContainsFunc(api.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("api ports = %q, none publishes the container port %s that serve listens on", api.Ports, port)
		}
		if !slices.Contains(image.exposed, port) {
			t.Errorf("the Dockerfile exposes %q, not serve's port %s", image.exposed, port)
		}

		hc := api.Healthcheck
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != image.entrypoint || hc.Test[2] != "healthcheck" {
			t.Fatalf("api healthcheck = %+v, want [CMD %s healthcheck ...]: distroless has no shell, curl or wget", hc, image.entrypoint)
		}
		target, _, err := parseHealthcheck(hc.Test[3:], func(string) string { return "" }, io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("healthcheck %q: %v", hc.Test[3:], err)
		}
		u, _ := url.Parse(target)
		if u.Path != "/readyz" || u.Port() != port || !net.ParseIP(u.Hostname()).IsLoopback() {
			t.Errorf("healthcheck URL = %q, want /readyz on the loopback port %s the API listens on", target, port)
		}
		if d := composeDuration(t, hc.Timeout); d <= healthcheckTimeout {
			t.Errorf("healthcheck timeout %s, want more than the check's own %s so it reports its reason", d, healthcheckTimeout)
		}
		if d := composeDuration(t, api.StopGracePeriod); d <= cfg.shutdownTimeout {
			t.Errorf("stop_grace_period %s, want more than --shutdown-timeout %s, or Docker kills requests mid-flight", d, cfg.shutdownTimeout)
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

func requireServiceDependsOn(t *testing.T, service string, s composeService, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for name, d := range s.DependsOn {
		got[name] = d.Condition
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s depends_on = %v, want %v", service, got, want)
	}
}

// TestComposeCommandsAreSubcommands checks that run dispatches every command the compose file gives:
// a real subcommand answers --help.
func TestComposeCommandsAreSubcommands(t *testing.T) {
	t.Parallel()
	f := loadCompose(t)
	entrypoint := dockerfileImage(t).entrypoint
	commands := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(f.Services)) {
		s := f.Services[name]
		if s.Build == nil {
			continue // not our image
		}
		commands[firstOrDefault(s.Command, "serve")] = true // the Dockerfile's CMD is serve
		if hc := s.Healthcheck; hc != nil && len(hc.Test) > 2 && hc.Test[1] == entrypoint {
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

func composeDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("compose duration %q: %v", s, err)
	}
	return d
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
			requirePinnedImage(t, st.from)
		}
		if st.name != "" {
			stageNames[st.name] = true
		}
	}

	build := df.stages[0]
	goVersion := goDirective(t)
	if repo, tag, _ := strings.Cut(build.from, ":"); repo != "golang" || !strings.HasPrefix(tag, goVersion) {
		t.Errorf("build stage FROM %s, want golang:%s-... to match go.mod's go %s", build.from, goVersion, goVersion)
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
	user := ""
	copiedBinary, cmdExec := false, false
	for _, in := range final.instructions {
		switch in.keyword {
		case "USER":
			user = strings.Split(in.args, ":")[0]
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

// requirePinnedImage fails unless image names a tag other than latest (or a digest).
func requirePinnedImage(t *testing.T, image string) {
	t.Helper()
	if strings.Contains(image, "@sha256:") {
		return
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	if !ok || tag == "" || tag == "latest" || strings.Contains(tag, "$") {
		t.Errorf("FROM %s is not pinned: give it a tag other than latest", image)
	}
}

// goDirective returns go.mod's language version as MAJOR.MINOR.
func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
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
