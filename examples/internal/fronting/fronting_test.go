package fronting

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRejectsInvalidConfig(t *testing.T) {
	d := Defaults{Program: "test", Proxy: "nginx", CheckURL: "http://127.0.0.1:80/"}
	base := []string{"-interface", "eth0", "-vip", "10.0.0.100/24"}
	for name, args := range map[string][]string{
		"no interface":    {"-vip", "10.0.0.100"},
		"no vip":          {"-interface", "eth0"},
		"bad vip":         {"-interface", "eth0", "-vip", "10.0.0.300"},
		"vrid 0":          append([]string{"-vrid", "0"}, base...),
		"priority 255":    append([]string{"-priority", "255"}, base...),
		"positive weight": append([]string{"-weight", "5"}, base...),
		"check by name":   append([]string{"-check-url", "http://localhost/"}, base...),
		"check scheme":    append([]string{"-check-url", "ftp://127.0.0.1/"}, base...),
		"bad log level":   append([]string{"-log-level", "loud"}, base...),
		"unknown flag":    append([]string{"-state", "MASTER"}, base...),
	} {
		if got := Main(args, d); got != 2 {
			t.Errorf("%s: exit status %d, want 2", name, got)
		}
	}
}

func TestPidProber(t *testing.T) {
	dir := t.TempDir()
	alive := filepath.Join(dir, "alive.pid")
	os.WriteFile(alive, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	garbage := filepath.Join(dir, "garbage.pid")
	os.WriteFile(garbage, []byte("haproxy\n"), 0o644)
	dead := filepath.Join(dir, "dead.pid")
	os.WriteFile(dead, []byte("2147483646\n"), 0o644) // above pid_max: never a process
	for path, want := range map[string]bool{alive: true, garbage: false, dead: false, filepath.Join(dir, "missing"): false} {
		r := pidProber(path).Probe(context.Background())
		if r.Up != want || r.Reason == "" {
			t.Errorf("%s: up=%v reason %q, want up=%v with a reason", filepath.Base(path), r.Up, r.Reason, want)
		}
	}
}
