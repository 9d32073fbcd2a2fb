package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

func TestDatabaseURLPasswordIsNotPrinted(t *testing.T) {
	t.Parallel()
	_, err := withDatabase("mysql://admin:Sup3rS3cret@127.0.0.1:3306/x", pgbenchDatabase)
	if err == nil || !strings.Contains(err.Error(), "must be a postgres:// URL") || strings.Contains(err.Error(), "Sup3rS3cret") {
		t.Errorf("withDatabase: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	dbs, err := newRunDatabases("postgres://admin:Sup3rS3cret@"+closed+"/postgres?sslmode=disable", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = dbs.create(context.Background(), pgbenchDatabase)
	if err == nil || !strings.Contains(err.Error(), "connect to") || strings.Contains(err.Error(), "Sup3rS3cret") {
		t.Errorf("create: %v", err)
	}

	var out bytes.Buffer
	getenv := func(k string) string {
		if k == "CASEOPS_BENCH_DATABASE_URL" {
			return "postgres://admin:Sup3rS3cret@127.0.0.1:5432/postgres"
		}
		return ""
	}
	_ = Run(context.Background(), []string{"pgbench", "--help"}, getenv, &out, io.Discard) // help goes to standard output
	if help := out.String(); strings.Contains(help, "Sup3rS3cret") || !strings.Contains(help, "admin:xxxxx@") {
		t.Errorf("pgbench --help:\n%s", help)
	}
}
