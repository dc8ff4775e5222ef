package main

import "testing"

func TestRejectsInvalidConfig(t *testing.T) {
	base := []string{"-interface", "eth0", "-vip-a", "10.0.0.100", "-vip-b", "10.0.0.101"}
	for name, args := range map[string][]string{
		"no primary":        base,
		"primary c":         append([]string{"-primary", "c"}, base...),
		"same vrid":         append([]string{"-primary", "a", "-vrid-a", "5", "-vrid-b", "5"}, base...),
		"low above high":    append([]string{"-primary", "a", "-priority-low", "200"}, base...),
		"no vip b":          {"-interface", "eth0", "-vip-a", "10.0.0.100", "-primary", "a"},
		"bad vip":           {"-interface", "eth0", "-vip-a", "10.0.0", "-vip-b", "10.0.0.101", "-primary", "a"},
		"positive weight":   append([]string{"-primary", "a", "-weight", "10"}, base...),
		"check url by name": append([]string{"-primary", "a", "-check-url", "http://localhost/"}, base...),
	} {
		if got := run(args); got != 2 {
			t.Errorf("%s: exit status %d, want 2", name, got)
		}
	}
}
