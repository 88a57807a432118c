// Package compat drives Weir with the Go clients people use: franz-go
// (kgo and kadm) and IBM/sarama. Each test talks to a real broker over a
// real socket: WEIR_BOOTSTRAP when set (compat/run.sh's shared broker, or
// any Kafka-compatible cluster), else a fresh single Weir node started
// here from WEIR_BIN with its data in a temporary directory.
package compat

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bootstrap is the broker every test uses ("host:port").
var bootstrap string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if b := os.Getenv("WEIR_BOOTSTRAP"); b != "" {
		bootstrap = b
		return m.Run()
	}
	stop, err := startWeir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "compat/go: cannot start weir: %v\n", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// startWeir starts `weir serve` on a free loopback port and waits for it
// to say it is listening; the returned func stops it and removes its data.
func startWeir() (func(), error) {
	bin := os.Getenv("WEIR_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "debug", "weir")
	}
	dir, err := os.MkdirTemp("", "weir-compat-go-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", port),
		"--override", "log.dirs="+filepath.Join(dir, "data"),
		"--override", "group.initial.rebalance.delay.ms=0")
	// The broker's log (stdout and stderr): scanned for the ready line,
	// its warnings and errors passed on.
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	ready := make(chan struct{})
	want := fmt.Sprintf("weir listening on PLAINTEXT 127.0.0.1:%d", port)
	go func() {
		// Keep draining the broker's log (to our stderr) after it is up.
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if !signalled && strings.Contains(line, want) {
				close(ready)
				signalled = true
			}
			if strings.Contains(line, "WARN") || strings.Contains(line, "ERROR") {
				fmt.Fprintln(os.Stderr, "weir:", line)
			}
		}
	}()
	select {
	case <-ready:
		bootstrap = fmt.Sprintf("127.0.0.1:%d", port)
		return stop, nil
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("weir did not report %q within 60 s", want)
	}
}

var seq atomic.Int64

// unique returns a topic or group name no other test uses.
func unique(prefix string) string {
	return fmt.Sprintf("go-%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// testContext is a context that ends with the test's own deadline budget.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newAdmin returns a kadm client closed at the end of the test.
func newAdmin(t *testing.T) *kadm.Client {
	t.Helper()
	// kgo answers repeated Metadata requests from a cache for up to
	// MetadataMinAge (5 s by default); the tests wait on fresh answers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic creates a topic with franz-go's admin client and waits until
// Metadata shows a leader for every partition.
func createTopic(t *testing.T, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := newAdmin(t)
	ctx := testContext(t, 30*time.Second)
	res, err := adm.CreateTopic(ctx, partitions, -1, configs, name)
	if err != nil || res.Err != nil {
		t.Fatalf("create topic %s: %v / %v", name, err, res.Err)
	}
	waitUntil(t, 20*time.Second, "every partition of "+name+" led", func() bool {
		md, err := adm.Metadata(ctx, name)
		if err != nil {
			return false
		}
		td, ok := md.Topics[name]
		if !ok || td.Err != nil || len(td.Partitions) != int(partitions) {
			return false
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return false
			}
		}
		return true
	})
}

// waitUntil polls cond every 50 ms until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
