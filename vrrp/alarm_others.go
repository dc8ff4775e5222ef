//go:build !linux

package vrrp

func newAlarm(_ Conn, fire func()) alarm { return newGoAlarm(fire) }
