package safetensors_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/realc-project/realc/runtime/safetensors"
)

// Write float32 weights as a bf16 Hugging Face folder, then read one back.
func Example() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	weights := []safetensors.Tensor{
		{Name: "model.norm.weight", DType: safetensors.BF16, Shape: []int{4}, F32: []float32{1, 1, 1, 1}},
		{Name: "lm_head.weight", DType: safetensors.BF16, Shape: []int{2, 4}, F32: []float32{0.5, -1, 2, 3.14159, 0, 0, 0, 1}},
	}
	files, err := safetensors.WriteDir(dir, weights, safetensors.DirOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(files)

	set, err := safetensors.Load(dir)
	if err != nil {
		panic(err)
	}
	defer set.Close()
	for _, t := range set.Tensors() {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	w, _ := set.Float32("lm_head.weight")
	fmt.Println(w[:4]) // 3.14159 rounded to bf16
	format, _ := set.Files[0].MetadataValue("format")
	fmt.Println("format:", format, "in", filepath.Base(set.Files[0].Path))
	// Output:
	// [model.safetensors]
	// lm_head.weight BF16 [2 4]
	// model.norm.weight BF16 [4]
	// [0.5 -1 2 3.140625]
	// format: pt in model.safetensors
}
