// hello.go: the seed's Go server (/work/shared/000_aa26c5b7c1a0dc95.txt)
// speaks a bare greeting; wrk speaks HTTP. For the "wrk Connection: close"
// comparison of issue 13 this is the same program as Go people write it for
// HTTP: the standard library's net/http (a goroutine per connection, as in
// the seed), answering every request with the hello text reactord and nginx
// send in benches/compare.sh. Nothing tuned, GOMAXPROCS left to the runtime
// (compare.sh pins the process to one core, so the runtime sees one CPU).
//
// Build: go build -o hello hello.go   Run: ./hello 127.0.0.1:PORT
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := ":8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	body := []byte("Hello from reactord\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	})
	// net.Listen, then Serve: http.ListenAndServe in two steps, so that
	// the bound address (port 0 in tests) can be printed.
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("Error al iniciar el servidor:", err)
		os.Exit(1)
	}
	fmt.Println("Servidor HTTP escuchando en", listener.Addr())
	if err := http.Serve(listener, nil); err != nil {
		fmt.Println("Error del servidor:", err)
		os.Exit(1)
	}
}
