// Command tinyjudge writes the trainer test kit's tiny Qwen3 judge, six
// training rows and 16 replayed responses per row to $SETUP_DIR (judge/,
// train.parquet, rollouts.jsonl): the inputs of device_check.sh's
// `train --device cuda` run.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/realc-project/realc/runtime/train/traintest"
)

func main() {
	dir := os.Getenv("SETUP_DIR")
	if dir == "" {
		fmt.Fprintln(os.Stderr, "tinyjudge: set SETUP_DIR to the folder to write")
		os.Exit(2)
	}
	if err := write(dir); err != nil {
		fmt.Fprintln(os.Stderr, "tinyjudge:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	if err := traintest.WriteJudge(filepath.Join(dir, "judge"), 7); err != nil {
		return err
	}
	ys, err := traintest.WriteData(filepath.Join(dir, "train.parquet"), 6)
	if err != nil {
		return err
	}
	return traintest.WriteRollouts(filepath.Join(dir, "rollouts.jsonl"), ys, 16)
}
