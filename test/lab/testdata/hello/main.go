// Command hello prints "hello" and its arguments; lab.Binary's test builds
// it.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() { fmt.Println("hello", strings.Join(os.Args[1:], " ")) }
