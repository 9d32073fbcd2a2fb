package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc's CPU times; it is 100 on every architecture Go supports.
const clockTicks = 100

// vmRSSKB reads the VmRSS line of a /proc/PID/status file, in kB.
func vmRSSKB(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, errors.New("no VmRSS line (a kernel thread or a zombie)")
}

func readVmRSSKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return vmRSSKB(b)
}

// rssSampler follows a process's resident memory during a run and keeps the peak.
type rssSampler struct {
	pid    int
	run    context.Context // the run's: once it is over, a process that has gone is no error
	mu     sync.Mutex
	peakKB int64
	err    error
	stop   context.CancelFunc
	done   chan struct{}
}

// sampleRSS starts sampling pid every interval until Stop. It fails at once when the process cannot be read.
func sampleRSS(ctx context.Context, pid int, interval time.Duration) (*rssSampler, error) {
	kb, err := readVmRSSKB(pid)
	if err != nil {
		return nil, fmt.Errorf("server pid %d: %w", pid, err)
	}
	run := ctx
	ctx, stop := context.WithCancel(ctx)
	s := &rssSampler{pid: pid, run: run, peakKB: kb, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

func (s *rssSampler) sample() {
	kb, err := readVmRSSKB(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		// An interrupted run stops the server with it: it may be gone, or a zombie, by the last sample.
		if s.err == nil && s.run.Err() == nil {
			s.err = fmt.Errorf("server pid %d: %w", s.pid, err)
		}
		return
	}
	s.peakKB = max(s.peakKB, kb)
}

// Peak returns the largest VmRSS seen so far, in kB.
func (s *rssSampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakKB
}

// Stop takes a last sample, ends the sampling and returns the peak in kB and the first read error, if any.
func (s *rssSampler) Stop() (int64, error) {
	s.stop()
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakKB, s.err
}

// processCPU parses a /proc/PID/stat file: the user plus system CPU time the process has used.
func processCPU(stat []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces; the fields after it are plain.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name in /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return ticksToDuration(utime + stime), nil
}

func readProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return processCPU(b)
}

func ticksToDuration(t uint64) time.Duration { return time.Duration(t) * time.Second / clockTicks }

// machineTicks reads the first line of /proc/stat: CPU ticks spent busy and in total, over all cores.
func machineTicks() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat")
	}
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total, nil
}

// numCPU is the number of cores /proc/stat's totals cover.
func numCPU() int { return runtime.NumCPU() }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures where the machine's CPU went during a run, as cores kept busy on average.
// Readings that fail (no /proc, the process gone) count as zero: CPU is a hint here, not a result.
type cpuMeter struct {
	start          time.Time
	busy0, total0  uint64
	self0, server0 time.Duration
	serverPID      int
}

// cpuUse is a run's CPU, in cores busy on average over its wall time.
type cpuUse struct {
	machine   float64 // every process on the machine
	server    float64 // the server process, when its pid is known
	generator float64 // this process: the load generator
}

func startCPUMeter(serverPID int) *cpuMeter {
	m := &cpuMeter{start: time.Now(), serverPID: serverPID, self0: selfCPU()}
	m.busy0, m.total0, _ = machineTicks()
	if serverPID > 0 {
		m.server0, _ = readProcessCPU(serverPID)
	}
	return m
}

func (m *cpuMeter) stop() cpuUse {
	wall := time.Since(m.start).Seconds()
	var u cpuUse
	if busy, total, err := machineTicks(); err == nil && total > m.total0 {
		u.machine = float64(busy-m.busy0) / float64(total-m.total0) * float64(numCPU())
	}
	u.generator = (selfCPU() - m.self0).Seconds() / wall
	if m.serverPID > 0 {
		if c, err := readProcessCPU(m.serverPID); err == nil {
			u.server = (c - m.server0).Seconds() / wall
		}
	}
	return u
}
