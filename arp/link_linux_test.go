package arp

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPermissionErrorNamesCapability(t *testing.T) {
	for _, errno := range []error{unix.EPERM, unix.EACCES} {
		err := opError("open packet socket", "eth0", errno)
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Fatalf("%v: want os.ErrPermission with a CAP_NET_RAW hint", err)
		}
	}
}

func TestNewRejectsUnknownInterface(t *testing.T) {
	// Looking up a name is harmless in any namespace; nothing is opened.
	_, err := New(Config{Interface: "lvkno0"})
	if !errors.Is(err, ErrNoInterface) {
		t.Fatalf("New with an unknown interface = %v, want ErrNoInterface", err)
	}
}
