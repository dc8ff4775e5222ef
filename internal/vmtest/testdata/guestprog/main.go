// guestprog reports the kernel it runs under, proving a statically built Go
// program starts in the guest.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		fmt.Println("guestprog:", err)
		os.Exit(1)
	}
	fmt.Printf("guestprog: kernel %s arg %s\n", strings.TrimSpace(string(rel)), strings.Join(os.Args[1:], ","))
}
