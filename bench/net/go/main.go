// Command gonet holds the Go twins of gort's network examples for bench/net/run:
//
//	gonet httpd ADDR   net/http server answering every request with "hello"
//	                   (twin of examples-c/httpd.c)
//	gonet echo ADDR    TCP echo server, one goroutine per connection
//	                   (twin of examples-c/echo.c)
//
// Each prints "<name>: listening on port N" once it accepts connections, then serves
// until killed. Standard library only.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gonet httpd|echo ADDR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s: listening on port %d\n", os.Args[1], ln.Addr().(*net.TCPAddr).Port)
	switch os.Args[1] {
	case "httpd":
		hello := []byte("hello")
		h := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(hello)
		}
		srv := &http.Server{Handler: http.HandlerFunc(h), IdleTimeout: 60 * time.Second}
		err = srv.Serve(ln)
	case "echo":
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, "accept:", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go serveEcho(c)
		}
	default:
		err = fmt.Errorf("unknown server %q", os.Args[1])
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// serveEcho writes back whatever arrives; a connection idle for 60 s is dropped, as in
// examples-c/echo.c.
func serveEcho(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		n, err := c.Read(buf)
		if n > 0 {
			c.SetWriteDeadline(time.Now().Add(60 * time.Second))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}
