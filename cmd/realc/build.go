package main

// Subcommands of code generation: gen writes generated/<recipe>/, build also
// compiles it into a binary (package codegen does the work).

import (
	"fmt"
	"io"
	"strings"

	"github.com/realc-project/realc/codegen"
)

func init() {
	register("gen", "generate a recipe's kernels and Go glue: realc gen RECIPE [--out DIR]", runGen)
	register("build", "generate and build a recipe's binary: realc build RECIPE [-o BIN] [--out DIR] [--tags T]", runBuild)
}

func runGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", stderr, "gen RECIPE.rl [--out DIR]")
	out := fs.String("out", "", "output folder (default: generated/<recipe name> in the realc checkout)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("gen needs exactly one recipe file, got %d", len(files))
	}
	g, err := codegen.Gen(files[0], *out)
	if err != nil {
		return err
	}
	printWarnings(stderr, g.Prog)
	fmt.Fprintf(stdout, "%s: wrote %d files to %s\n", g.Source, len(g.Files), g.Dir)
	return nil
}

func runBuild(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("build", stderr, "build RECIPE.rl [-o BIN] [--out DIR] [--tags T,...]")
	bin := fs.String("o", "", "the binary to write (default: ./<recipe name>)")
	out := fs.String("out", "", "output folder of the generated code (default: generated/<name> for the checkout's recipes/<name>.rl, else a folder in the user cache)")
	tags := fs.String("tags", "", "extra Go build tags, comma-separated (e.g. openblas, cuda)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("build needs exactly one recipe file, got %d", len(files))
	}
	var tl []string
	if *tags != "" {
		tl = strings.Split(*tags, ",")
	}
	g, path, err := codegen.Build(files[0], *out, *bin, tl, stderr)
	if err != nil {
		return err
	}
	printWarnings(stderr, g.Prog)
	fmt.Fprintf(stdout, "%s: generated %s, built %s\n", g.Source, g.Dir, path)
	return nil
}
