package codegen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
	"github.com/realc-project/realc/compiler"
)

const cudaPath = "github.com/realc-project/realc/runtime/cuda"

// launchCUDA emits launch_cuda.go: the Spec of kernels.cu, the kernels
// themselves (embedded) for `train --device cuda`, and RunCUDA, which the
// recipe binary's `loss --cuda-ptx FILE` calls (build tag cuda).
func (g *gen) launchCUDA() ([]byte, error) {
	f := jen.NewFile("main")
	f.HeaderComment(g.header())
	f.HeaderComment("//go:build cuda")
	f.ImportName(rtPath, "recipe")
	f.ImportName(cudaPath, "cuda")
	counts, off := g.s.Counts, g.s.Slots
	arr := func(a [4]int) jen.Code {
		return jen.Index(jen.Lit(4)).Int().Values(jen.Lit(a[0]), jen.Lit(a[1]), jen.Lit(a[2]), jen.Lit(a[3]))
	}
	var lossOff, filterOff [4]int
	if g.p.Loss != compiler.NoID {
		lossOff = off[g.p.Loss]
	}
	if g.p.Filter != compiler.NoID {
		filterOff = off[g.p.Filter]
	}
	comments(f, fmt.Sprintf("cudaSpec describes kernels.cu: value offsets in its vals buffer (scalars, per group,\nper sequence, per token) for recipe %s.", g.p.Name))
	f.Var().Id("cudaSpec").Op("=").Op("&").Qual(cudaPath, "Spec").Values(jen.Dict{
		jen.Id("Prefix"):    jen.Lit(cIdent(g.p.Name)),
		jen.Id("Counts"):    arr(counts),
		jen.Id("LossOff"):   arr(lossOff),
		jen.Id("FilterOff"): arr(filterOff),
		jen.Id("HasFilter"): jen.Lit(g.p.Filter != compiler.NoID),
		jen.Id("Block"):     jen.Lit(256),
	})
	f.Line()
	f.Anon("embed")
	comments(f, "kernelsCU is the recipe's kernels.cu, compiled for the GPU at the start of `train --device cuda`.")
	f.Comment("//go:embed kernels.cu")
	f.Var().Id("kernelsCU").String()
	f.Line()
	comments(f, "CUDAKernels hands the recipe's CUDA kernels and their Spec to the trainer (runtime/train's GPU engine).")
	f.Func().Params(jen.Id("program")).Id("CUDAKernels").Params().Params(jen.String(), jen.Op("*").Qual(cudaPath, "Spec")).Block(
		jen.Return(jen.Id("kernelsCU"), jen.Id("cudaSpec")),
	)
	f.Line()
	comments(f, "RunCUDA runs the recipe's CUDA kernels on GPU 0: kernels.cu compiled to PTX\n(nvcc -ptx -arch=sm_80 kernels.cu), logits rounded to bf16, gradients back in float32.")
	errRet := func(err jen.Code) jen.Code { return jen.Return(jen.Lit(0), jen.Nil(), jen.Nil(), err) }
	check := jen.If(jen.Err().Op("!=").Nil()).Block(errRet(jen.Err()))
	f.Func().Params(jen.Id("program")).Id("RunCUDA").Params(
		jen.Id("ptxPath").String(), jen.Id("l").Op("*").Qual(rtPath, "Layout"), jen.Id("hyper").Index().Float64(), jen.List(jen.Id("tok"), jen.Id("score")).Index().Float32(),
	).Params(jen.Float64(), jen.Index().Float32(), jen.Index().Float32(), jen.Error()).Block(
		jen.List(jen.Id("ptx"), jen.Err()).Op(":=").Qual("os", "ReadFile").Call(jen.Id("ptxPath")),
		check,
		jen.List(jen.Id("d"), jen.Err()).Op(":=").Qual(cudaPath, "Open").Call(jen.Lit(0)),
		check,
		jen.Defer().Id("d").Dot("Close").Call(),
		jen.List(jen.Id("m"), jen.Err()).Op(":=").Id("d").Dot("LoadPTX").Call(jen.String().Call(jen.Id("ptx"))),
		check,
		jen.List(jen.Id("res"), jen.Err()).Op(":=").Qual(cudaPath, "RunLoss").Call(jen.Id("d"), jen.Id("m"), jen.Id("cudaSpec"), jen.Id("l"), jen.Id("hyper"),
			jen.Qual(cudaPath, "ToBF16").Call(jen.Id("tok")), jen.Qual(cudaPath, "ToBF16").Call(jen.Id("score"))),
		check,
		jen.Return(jen.Id("res").Dot("Loss"), jen.Qual(cudaPath, "FromBF16").Call(jen.Id("res").Dot("DTok")), jen.Qual(cudaPath, "FromBF16").Call(jen.Id("res").Dot("DScore")), jen.Nil()),
	)
	return render(f)
}
