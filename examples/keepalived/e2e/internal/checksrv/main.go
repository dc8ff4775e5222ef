// Command checksrv is a real server for the checker tests in the test VM:
// one small service per process, so that a shell script takes each one down
// (kill) and up (start) on its own.
//
//	checksrv tcp ADDR:PORT             accept connections and close them
//	checksrv https ADDR:PORT           HTTPS with a self-signed certificate made at
//	                                   start; every path answers 200 "ok"
//	checksrv dns ADDR:PORT             DNS over UDP: answers every query with
//	                                   NOERROR and a record of the asked type
//	checksrv udp ADDR:PORT [FILE]      answers each datagram with FILE's current
//	                                   contents (silent without FILE)
//
// It runs until killed and prints "ready" once it listens.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: checksrv tcp|https|dns|udp ADDR:PORT [FILE]")
		os.Exit(2)
	}
	addr := os.Args[2]
	var err error
	switch os.Args[1] {
	case "tcp":
		err = serveTCP(addr)
	case "https":
		err = serveHTTPS(addr)
	case "dns":
		err = serveUDP(addr, answerDNS)
	case "udp":
		file := ""
		if len(os.Args) > 3 {
			file = os.Args[3]
		}
		err = serveUDP(addr, func(req []byte) []byte {
			if file == "" {
				return nil
			}
			b, _ := os.ReadFile(file)
			return b
		})
	default:
		err = fmt.Errorf("unknown service %q", os.Args[1])
	}
	fmt.Fprintf(os.Stderr, "checksrv %s %s: %v\n", os.Args[1], addr, err)
	os.Exit(1)
}

func serveTCP(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		c.Close()
	}
}

func serveHTTPS(addr string) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	l, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
}

// selfSigned makes a one-day ECDSA certificate for the test.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "checksrv"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// serveUDP answers each datagram with reply(datagram), or not at all when
// that is nil.
func serveUDP(addr string, reply func([]byte) []byte) error {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		if r := reply(buf[:n]); r != nil {
			c.WriteTo(r, from)
		}
	}
}

// answerDNS answers a query with its question and one record of the asked
// type (A, AAAA or else SOA), or nothing when it does not parse.
func answerDNS(req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: q.Class, TTL: 60}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	b.EnableCompression()
	err = errors.Join(b.StartQuestions(), b.Question(q), b.StartAnswers())
	switch q.Type {
	case dnsmessage.TypeA:
		err = errors.Join(err, b.AResource(rh, dnsmessage.AResource{A: [4]byte{10, 0, 2, 3}}))
	case dnsmessage.TypeAAAA:
		err = errors.Join(err, b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: [16]byte{0xfd, 0, 0, 0x99, 15: 3}}))
	default:
		ns := dnsmessage.MustNewName("ns.test.")
		err = errors.Join(err, b.SOAResource(rh, dnsmessage.SOAResource{NS: ns, MBox: ns, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, MinTTL: 60}))
	}
	out, err2 := b.Finish()
	if errors.Join(err, err2) != nil {
		return nil
	}
	return out
}
