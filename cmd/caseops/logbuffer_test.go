package main

import (
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Request log lines wait in the buffer; a warning takes them out at once, in order; the ticker and the end
// of the server take out the rest; a full buffer writes itself out.
func TestLogBuffer(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	b := newLogBuffer(out)
	logger := slog.New(b.handler("json")).With("component", "api")

	logger.Info("request", "n", 1)
	logger.Info("request", "n", 2)
	if got := out.String(); got != "" {
		t.Fatalf("info lines were written at once: %q", got)
	}
	logger.Warn("trouble")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"n":1`) || !strings.Contains(lines[1], `"n":2`) ||
		!strings.Contains(lines[2], `"msg":"trouble"`) || !strings.Contains(lines[2], `"component":"api"`) {
		t.Fatalf("after a warning:\n%s", out)
	}

	// The ticker runs in a synctest bubble, whose clock moves only when every goroutine in it waits: "at most
	// one interval" is then exact, however busy the machine is.
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Millisecond
		stop := b.start(interval)
		logger.Info("request", "n", 3)
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if strings.Contains(out.String(), `"n":3`) {
			t.Fatalf("flushed before the interval was up:\n%s", out)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !strings.Contains(out.String(), `"n":3`) {
			t.Fatalf("the ticker did not flush after one interval:\n%s", out)
		}
		logger.Info("request", "n", 4)
		stop()
		if !strings.Contains(out.String(), `"n":4`) {
			t.Fatalf("stop did not flush:\n%s", out)
		}
		stop() // a second stop is harmless
	})
	logger.Info("request", "n", 5)
	if strings.Contains(out.String(), `"n":5`) {
		t.Fatalf("written without a flush")
	}
	if err := b.Flush(); err != nil || !strings.Contains(out.String(), `"n":5`) {
		t.Fatalf("Flush: %v\n%s", err, out)
	}

	before := len(out.String())
	line := strings.Repeat("x", 1000)
	for range logBufferBytes/1000 + 1 {
		logger.Info(line)
	}
	if len(out.String()) == before {
		t.Fatalf("a full buffer was not written out")
	}
}
