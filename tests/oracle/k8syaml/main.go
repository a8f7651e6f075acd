// Command k8syaml reads YAML streams the way Kubernetes reads a manifest (kubectl, the API
// server): apimachinery's YAMLReader splits the stream into documents, and sigs.k8s.io/yaml
// (go-yaml v2) converts each document to JSON. It is the oracle of meterguard's differential
// test (tests/yaml_oracle.rs) and of its fuzz target.
//
// Usage: k8syaml FILE... ; for each file it prints one line "== FILE", then one JSON line per
// document: {"line":N,"json":VALUE} or {"line":N,"error":"..."}, where N is the 1-based line on
// which the document's text starts. A stream error ends the file with
// {"line":N,"from":M,"stream":"..."}: the bad line N, in the document that started on line M.
//
// Build offline with Debian's packages (golang-go, golang-k8s-sigs-yaml-dev):
//   GOPATH=/usr/share/gocode GO111MODULE=off go build -o k8syaml ./tests/oracle/k8syaml
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

type result struct {
	Line   int             `json:"line"`
	From   int             `json:"from,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Error  string          `json:"error,omitempty"`
	Stream string          `json:"stream,omitempty"`
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for _, name := range os.Args[1:] {
		fmt.Fprintf(out, "== %s\n", name)
		f, err := os.Open(name)
		if err != nil {
			enc.Encode(result{Stream: err.Error()})
			continue
		}
		reader := newYAMLReader(bufio.NewReader(f))
		for {
			doc, line, err := reader.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				enc.Encode(result{Line: reader.line, From: line, Stream: err.Error()})
				break
			}
			j, err := yaml.YAMLToJSON(doc)
			if err != nil {
				enc.Encode(result{Line: line, Error: err.Error()})
				continue
			}
			enc.Encode(result{Line: line, JSON: j})
		}
		f.Close()
	}
}

// yamlReader is k8s.io/apimachinery/pkg/util/yaml's YAMLReader (decoder.go, at commit eed236c,
// Apache-2.0), which Debian does not package, with the line counting added: a document's first
// line is reported with its result.
type yamlReader struct {
	reader *bufio.Reader
	line   int
}

func newYAMLReader(r *bufio.Reader) *yamlReader {
	return &yamlReader{reader: r}
}

const separator = "---"

func (r *yamlReader) Read() ([]byte, int, error) {
	var buffer bytes.Buffer
	start := r.line + 1
	for {
		line, err := r.readLine()
		if err != nil && err != io.EOF {
			return nil, start, err
		}
		r.line++
		sep := len([]byte(separator))
		if i := bytes.Index(line, []byte(separator)); i == 0 {
			// A potential document terminator: only comments and spaces may follow it.
			i += sep
			trimmed := string(bytes.TrimSpace(line[i:]))
			if len(trimmed) > 0 && string(trimmed[0]) != "#" {
				return nil, start, fmt.Errorf("invalid Yaml document separator: %s", trimmed)
			}
			if buffer.Len() != 0 {
				return buffer.Bytes(), start, nil
			}
			if err == io.EOF {
				return nil, start, err
			}
		}
		if err == io.EOF {
			if buffer.Len() != 0 {
				return buffer.Bytes(), start, nil
			}
			return nil, start, err
		}
		if buffer.Len() == 0 {
			start = r.line
		}
		buffer.Write(line)
	}
}

// readLine is apimachinery's LineReader.Read: one line, with '\n' appended.
func (r *yamlReader) readLine() ([]byte, error) {
	var (
		isPrefix = true
		err      error
		line     []byte
		buffer   bytes.Buffer
	)
	for isPrefix && err == nil {
		line, isPrefix, err = r.reader.ReadLine()
		buffer.Write(line)
	}
	buffer.WriteByte('\n')
	return buffer.Bytes(), err
}
