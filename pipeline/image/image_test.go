package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pandadeploy/panda/internal/registrytest"
)

// pushedImage is what a registry holds for one image: its config (raw and parsed)
// and the regular files of its layers, later layers winning.
type pushedImage struct {
	configRaw []byte
	config    ocispec.Image
	files     map[string]string
	layers    [][]byte // raw layer blobs, for searching
}

// readPushed reads repo:reference from the registry as a puller would.
func readPushed(t *testing.T, reg *registrytest.Registry, repo, reference string) pushedImage {
	t.Helper()
	raw, _ := reg.Manifest(repo, reference)
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode manifest %s:%s: %v", repo, reference, err)
	}
	img := pushedImage{configRaw: reg.Blob(repo, m.Config.Digest.String()), files: map[string]string{}}
	if err := json.Unmarshal(img.configRaw, &img.config); err != nil {
		t.Fatalf("decode config: %v", err)
	}
	for _, l := range m.Layers {
		blob := reg.Blob(repo, l.Digest.String())
		img.layers = append(img.layers, blob)
		readLayer(t, blob, img.files)
	}
	return img
}

// readLayer adds the regular files of a (possibly gzipped) layer tar to files.
func readLayer(t *testing.T, blob []byte, files map[string]string) {
	t.Helper()
	var r io.Reader = bytes.NewReader(blob)
	if gz, err := gzip.NewReader(bytes.NewReader(blob)); err == nil {
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = string(b)
	}
}

// contains reports whether any layer or the config holds s.
func (p pushedImage) contains(t *testing.T, s string) bool {
	t.Helper()
	if bytes.Contains(p.configRaw, []byte(s)) {
		return true
	}
	for _, l := range p.layers {
		files := map[string]string{}
		readLayer(t, l, files)
		for _, v := range files {
			if bytes.Contains([]byte(v), []byte(s)) {
				return true
			}
		}
	}
	return false
}
