// Package node is the glue the example programs share: it turns a few flags into
// running VRRP Routers whose VIPs are added by package vip and announced by package arp
// (gratuitous ARP, unsolicited neighbour advertisements), logs every event with its reason through log/slog, and exposes
// everything to Prometheus through package metrics.
//
// It is deliberately small: an application that embeds lvskit writes the same
// thirty lines itself. It lives under examples/internal so that the library's
// own import graph never sees the Prometheus client.
package node
