// Command keepalived runs a keepalived.conf with lvskit's packages: VRRP
// instances with their VIPs, trackers and notify scripts, and LVS virtual
// servers with their health checks. It accepts keepalived's usual options so
// that it can replace keepalived in a unit file; see README.md for what it
// supports and where it differs.
//
//	keepalived [-f FILE] [-t] [-l] [-n] [-D] [--log-level LEVEL]
//
// SIGHUP reloads the file, changing only what differs (no VIP or IPVS entry
// that stays in the file is touched); SIGTERM and SIGINT stop it, releasing
// the VIPs and IPVS services it added.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lvskit/lvskit/examples/keepalived/daemon"
	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// Exit statuses. 5 is what keepalived -t returns for a configuration with
// errors.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitConfigTest = 5
)

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalived", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file               string
		test, console, det bool
		dontFork           bool
		level, configID    string
	)
	for _, n := range []string{"f", "use-file"} {
		fs.StringVar(&file, n, "/etc/keepalived/keepalived.conf", "configuration file")
	}
	for _, n := range []string{"t", "config-test"} {
		fs.BoolVar(&test, n, false, "check the configuration, print its diagnostics and exit (status 5 on errors)")
	}
	for _, n := range []string{"l", "log-console"} {
		fs.BoolVar(&console, n, false, "log to stderr (always: the daemon never forks and logs to stderr for journald)")
	}
	for _, n := range []string{"D", "log-detail"} {
		fs.BoolVar(&det, n, false, "detailed logs (the same as --log-level debug)")
	}
	for _, n := range []string{"n", "dont-fork"} {
		fs.BoolVar(&dontFork, n, false, "accepted for compatibility: the daemon never forks")
	}
	for _, n := range []string{"i", "config-id"} {
		fs.StringVar(&configID, n, "", "configuration id for @id conditional lines (default: the host name up to its first dot)")
	}
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keepalived: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if det {
		level = "debug"
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintln(stderr, "keepalived: --log-level:", err)
		return exitUsage
	}
	opts := &kaconf.Options{ConfigID: configID}

	if test {
		diags, err := kaconf.Check(file, opts)
		for _, d := range diags {
			fmt.Fprintln(stderr, d)
		}
		if err != nil {
			if !errors.Is(err, kaconf.ErrInvalid) {
				fmt.Fprintln(stderr, "keepalived:", err)
			}
			return exitConfigTest
		}
		return exitOK
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	d, diags, err := daemon.New(daemon.Config{Path: file, Options: opts, Logger: log})
	logDiags(log, diags)
	if err != nil {
		log.Error("not started: invalid configuration", "file", file, "err", err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading", "file", file)
				diags, _ := d.Reload()
				logDiags(log, diags)
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		if errors.Is(err, os.ErrPermission) {
			log.Error("permission denied: run as root or with CAP_NET_ADMIN and CAP_NET_RAW", "err", err)
		} else {
			log.Error("stopped", "err", err)
		}
		return exitFailure
	}
	return exitOK
}

func logDiags(log *slog.Logger, diags kaconf.Diagnostics) {
	for _, d := range diags {
		lvl := slog.LevelWarn
		if d.Severity == kaconf.Error {
			lvl = slog.LevelError
		}
		log.Log(context.Background(), lvl, d.Msg, "pos", d.Pos.String())
	}
}
