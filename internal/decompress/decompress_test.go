package decompress

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestReader(t *testing.T) {
	const text = "#separator \\x09\n{\"records\":[]}\n"
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	io.WriteString(gw, text)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	io.WriteString(zw, text)
	zw.Close()
	tests := []struct {
		name, compression string
		in                []byte
		wantErr           bool
	}{
		{"plain", "", []byte(text), false},
		{"gzip", "gzip", gz.Bytes(), false},
		{"zstd", "zstd", zs.Bytes(), false},
		{"gzip header cut", "gzip", gz.Bytes()[:5], true},
		{"empty", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, compression, err := Reader(bufio.NewReader(bytes.NewReader(tt.in)))
			if compression != tt.compression || (err != nil) != tt.wantErr {
				t.Fatalf("compression %q, error %v; want %q, error %v", compression, err, tt.compression, tt.wantErr)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), tt.compression+": ") {
					t.Errorf("error %q does not name the compression", err)
				}
				return
			}
			got, err := io.ReadAll(r)
			if want := string(tt.in); tt.compression != "" {
				want = text
				if err != nil || string(got) != want {
					t.Errorf("read %q, %v; want %q", got, err, want)
				}
			} else if string(got) != want {
				t.Errorf("read %q; want %q", got, want)
			}
		})
	}
}
