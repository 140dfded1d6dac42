package main

// `realc doctor`: what the CUDA backend would find on this machine.

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/realc-project/realc/runtime/cuda/dl"
)

func init() {
	register("doctor", "print the CUDA driver version, the GPUs, and where cuBLAS, cuBLASLt, NVRTC and NCCL were found", runDoctor)
}

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr, "doctor [--strict]")
	strict := fs.Bool("strict", false, "exit 1 unless a GPU, cuBLAS and NVRTC are all usable")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("doctor takes no arguments, got %q", strings.Join(pos, " "))
	}
	text, ok := doctorText(dl.Finder{}, buildTags())
	io.WriteString(stdout, text)
	if *strict && !ok {
		return errors.New("the CUDA backend cannot run here (see above)")
	}
	return nil
}

// buildTags returns the -tags this binary was built with.
func buildTags() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "-tags" {
			return s.Value
		}
	}
	return ""
}

// doctorText reports what f finds; ok is true when a GPU, cuBLAS and NVRTC
// are all usable.
func doctorText(f dl.Finder, tags string) (string, bool) {
	var b strings.Builder
	cudaTag := false
	for _, t := range strings.Split(tags, ",") {
		cudaTag = cudaTag || t == "cuda"
	}
	if cudaTag {
		b.WriteString("build:    -tags " + tags + " (the CUDA backend is compiled in)\n")
	} else {
		b.WriteString("build:    without the cuda tag: this binary trains on the CPU only (trainers built with -tags cuda run on the GPU)\n")
	}
	ok := true
	info, err := f.Driver()
	var nf *dl.NotFoundError
	switch {
	case errors.As(err, &nf):
		fmt.Fprintf(&b, "driver:   not found: no NVIDIA driver is installed here (%v)\n", err)
		ok = false
	case info == nil:
		fmt.Fprintf(&b, "driver:   %v\n", err)
		ok = false
	default:
		fmt.Fprintf(&b, "driver:   %s, supports CUDA %s\n", libWhere(info.Path, f), dl.VersionString(info.Version))
		if err != nil {
			fmt.Fprintf(&b, "devices:  none usable: %v\n", err)
			ok = false
		} else if len(info.Devices) == 0 {
			b.WriteString("devices:  none (the driver reports 0 GPUs)\n")
			ok = false
		}
		for _, d := range info.Devices {
			fmt.Fprintf(&b, "GPU %d:    %s, compute capability %d.%d, %d SMs, %.1f GiB\n", d.Ordinal, d.Name, d.CC[0], d.CC[1], d.SMs, float64(d.Memory)/(1<<30))
			if d.CC[0] < 8 {
				fmt.Fprintf(&b, "          realc's kernels need compute capability 8.0 or newer (bf16)\n")
				ok = false
			}
		}
	}
	b.WriteString("libraries:\n")
	for _, fd := range f.Probe() {
		if fd.Kind.Name == dl.DriverLib.Name {
			continue
		}
		if fd.Path == "" {
			fmt.Fprintf(&b, "  %-9s %v\n", fd.Kind.Name, fd.Err)
			if fd.Kind.Name != dl.NCCLLib.Name {
				ok = false
			}
			continue
		}
		where := fd.Path
		if fd.File != "" && fd.File != fd.Path {
			where += " -> " + fd.File
		}
		if fd.Err != nil {
			fmt.Fprintf(&b, "  %-9s %s (loaded, but: %v)\n", fd.Kind.Name, where, fd.Err)
			ok = false
			continue
		}
		fmt.Fprintf(&b, "  %-9s %s (version %s)\n", fd.Kind.Name, where, fd.Version)
	}
	if ok {
		b.WriteString("status:   the CUDA backend can run here\n")
	} else {
		b.WriteString("status:   the CUDA backend cannot run here; training runs on the CPU\n")
	}
	return b.String(), ok
}

// libWhere names a library's path and, for a plain SONAME, the file behind it.
func libWhere(path string, f dl.Finder) string {
	l, err := f.Open(dl.DriverLib)
	if err == nil && l.File != "" && l.File != path {
		return path + " -> " + l.File
	}
	return path
}
