// Hello-world on Go's net/http/fcgi for the end-to-end benchmark (benches/e2e/run.sh).
//
// Usage: go_fcgi ADDRESS
package main

import (
	"log"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go_fcgi ADDRESS")
	}
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	hello := []byte("hello\n")
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	log.Fatal(fcgi.Serve(listener, handler))
}
