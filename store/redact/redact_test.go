package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/x?sslmode=disable":  "postgres://postgres@127.0.0.1:5432/x?sslmode=disable",
		"postgres://postgres:hunter2@127.0.0.1:5432/x":          "postgres://postgres:xxxxx@127.0.0.1:5432/x",
		"postgres://postgres:abc@TOPSECRET:zz@127.0.0.1:5432/x": "postgres://postgres:xxxxx@127.0.0.1:5432/x",
		"mysql://admin:Sup3rS3cret@db:3306/x":                   "mysql://admin:xxxxx@db:3306/x",
		"postgres://u@h/x?sslmode=disable&password=hunter2&a=b": "postgres://u@h/x?sslmode=disable&password=xxxxx&a=b",
		"postgres://u@h/x?sslpassword=hunter2":                  "postgres://u@h/x?sslpassword=xxxxx",
		"host=h password=hunter2 dbname=x":                      "host=h password=xxxxx dbname=x",
		"host=h password='hun ter2' dbname=x":                   "host=h password=xxxxx dbname=x",
		"http://user:s3cretpw@127.0.0.1:1/x":                    "http://user:xxxxx@127.0.0.1:1/x",
		"user:s3cretpw@127.0.0.1:1/x":                           "user:xxxxx@127.0.0.1:1/x",
		"127.0.0.1:8080/readyz":                                 "127.0.0.1:8080/readyz",
		"":                                                      "",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestText(t *testing.T) {
	u := "postgres://postgres:abc@TOPSECRET:zz@127.0.0.1:5432/x?password=qwerty"
	got := Text(`parse "postgres://postgres:abc@TOPSECRET:zz@127.0.0.1:5432/x": host TOPSECRET, qwerty`, u)
	for _, secret := range []string{"TOPSECRET", "abc@", "qwerty"} {
		if strings.Contains(got, secret) {
			t.Errorf("Text left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "127.0.0.1:5432") {
		t.Errorf("Text masked more than the password: %q", got)
	}
}
