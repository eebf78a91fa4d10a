// greeting.go: the TCP server from the project's seed text
// (/work/shared/000_aa26c5b7c1a0dc95.txt, "Ejemplo sencillo en Go"), kept
// faithful: one goroutine per connection, one read of up to 1 KiB, the
// greeting written, the connection closed. Three changes: the address
// comes from the first argument (default :8080, as in the seed); the line
// saying where it listens prints the bound address, so that port 0 works
// (tests/comparison_programs.rs); and the per-connection error print is
// dropped, so a client that closes early does not turn the benchmark into
// a logging test. The reply is the seed's, without a newline; reactord's
// greeting scenario in benches/compare.sh asks both servers for the same
// text.
//
// Build: go build -o greeting greeting.go   Run: ./greeting 127.0.0.1:PORT
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	addr := ":8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("Error al iniciar el servidor:", err)
		os.Exit(1)
	}
	defer listener.Close()

	fmt.Println("Servidor TCP escuchando en", listener.Addr())

	for {
		conn, err := listener.Accept()
		if err != nil {
			fmt.Println("Error al aceptar la conexión:", err)
			continue
		}
		go handleRequest(conn)
	}
}

func handleRequest(conn net.Conn) {
	buffer := make([]byte, 1024)
	conn.Read(buffer)
	conn.Write([]byte("Hola desde el servidor TCP"))
	conn.Close()
}
