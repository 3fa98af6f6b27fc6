"""Compile an ONNX classifier with Apache TVM (Relax) into a shared library for the host CPU.

Run by infermark's TVM backend (backends/tvm/tvm_backend.cc) with .venv-tvm's Python on a
cache miss; the plugin then loads the library with TVM's C++ runtime, so no Python runs at
inference time. Writes OUT (the library) and OUT.json (what the plugin needs to know about
it), each under a temporary name renamed at the end, so a killed compile leaves nothing
under the final names. Exit status: 0 compiled, 2 the model or an operator is outside what
TVM can compile, 1 any other failure; the last line on stderr is then the reason.
"""

import argparse
import json
import os
import sys
import time

# Exit codes the plugin tells apart.
EXIT_ERROR = 1
EXIT_UNSUPPORTED = 2


class Unsupported(Exception):
    """A valid model that TVM's ONNX frontend or compiler cannot handle."""


def host_target(features, threads):
    """The LLVM target. "host": LLVM's name for this CPU and its features, minus the vector
    extensions that /proc/cpuinfo does not list (a virtual machine may hide some that the
    CPU model implies). Otherwise an LLVM -mattr list on top of generic x86-64."""
    import tvm
    from tvm.target import codegen

    cpu = codegen.llvm_get_system_cpu()
    target = {"kind": "llvm", "mcpu": cpu}
    if threads > 0:  # what MetaSchedule's parallel loops are sized for
        target["num-cores"] = threads
    if features == "host":
        implied = {str(f) for f in codegen.llvm_get_cpu_features(tvm.target.Target(target))}
        flags = set()
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        # LLVM feature name -> /proc/cpuinfo flag, for the features that change code.
        vector = {"avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c",
                  "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512dq": "avx512dq",
                  "avx512vl": "avx512vl", "avx512cd": "avx512cd",
                  "avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16",
                  "avxvnni": "avx_vnni", "amx-tile": "amx_tile"}
        if flags:
            hidden = sorted(f for f, flag in vector.items() if f in implied and flag not in flags)
            if hidden:
                target["mattr"] = ["-" + f for f in hidden]
    else:
        # An explicit list stands alone: LLVM's generic x86-64 plus exactly these features.
        del target["mcpu"]
        target["mattr"] = [f.strip() for f in features.split(",") if f.strip()]
    return tvm.target.Target(target)


def default_schedule(vector_lanes):
    """Without tuning, TVM's Relax CPU pipeline leaves every operator as plain loops: one
    thread, scalar or whatever LLVM vectorizes by itself. This pass gives each block the
    basic shape of a CPU kernel: the outer spatial loops fused and run in parallel, and
    the innermost output loop split into vector-width lanes, with the reduction loops
    (convolution and matrix-product sums) moved outside those lanes so that the lanes are
    independent sums LLVM can keep in one vector register. No tiling for caches, no layout
    change: a sane baseline, far from tuned or hand-written kernels."""
    from tvm import s_tir, tirx
    from tvm.ir.transform import module_pass
    from tvm.s_tir.dlight import normalize_prim_func

    def schedule(func):
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if infos is None:
            return None
        for info in infos:
            loops = sch.get_loops(info.block_rv)
            kinds = info.dom_kind()
            if len(loops) != len(kinds) or not kinds or "O" in kinds:
                continue
            spatial = [l for l, k in zip(loops, kinds) if k == "S"]
            reduce = [l for l, k in zip(loops, kinds) if k == "R"]
            if not spatial:
                continue
            inner = spatial[-1]
            extent = sch.get(inner).extent
            if not isinstance(extent, tirx.IntImm):
                continue
            if extent.value > vector_lanes:
                outer, inner = sch.split(inner, factors=[None, vector_lanes])
                rest = spatial[:-1] + [outer]
            else:
                rest = spatial[:-1]
            sch.reorder(*rest, *reduce, inner)
            if rest:
                sch.parallel(sch.fuse(*rest) if len(rest) > 1 else rest[0])
            if reduce:
                # TIR vectorizes only loops whose blocks are all data parallel: the lanes
                # of a sum are unrolled instead for LLVM's SLP vectorizer (forcing TIR's
                # vectorization through the printed script measured no faster).
                sch.decompose_reduction(info.block_rv, reduce[0])
                sch.unroll(inner)
            else:
                sch.vectorize(inner)
        return sch

    @module_pass(opt_level=0, name="InfermarkDefaultCpuSchedule")
    def apply(mod, _ctx):
        updated = {}
        for gvar, func in mod.functions_items():
            if isinstance(func, tirx.PrimFunc) and not func.attrs.get("tirx.is_scheduled", False):
                try:
                    sch = schedule(func)
                except Exception:  # pylint: disable=broad-except
                    sch = None  # a shape the rule does not handle stays as plain loops
                if sch is not None:
                    updated[gvar] = sch.mod["main"].with_attr("tirx.is_scheduled", True)
        for gvar, func in updated.items():
            mod[gvar] = func
        return mod

    return apply


def import_onnx(path, batch):
    """The model as a Relax module with its input fixed to [batch, C, H, W]."""
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    try:
        model = onnx.load(path)
    except Exception as e:  # pylint: disable=broad-except
        raise RuntimeError(f"not an ONNX model: {one_line(e)}") from e
    params = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in params]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise Unsupported(f"expected one input and one output, the model has {len(inputs)} "
                          f"and {len(model.graph.output)}")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(tensor.shape.dim) != 4:
        raise Unsupported(f"input '{inputs[0].name}' must be a float32 tensor of rank 4 (NCHW)")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    names = [d.dim_param if d.HasField("dim_param") else "" for d in tensor.shape.dim]
    if any(d <= 0 for d in dims[1:]):
        raise Unsupported(f"input '{inputs[0].name}' needs fixed channels, height and width")
    if dims[0] > 0 and dims[0] != batch:
        raise RuntimeError(f"batch {batch} requested, the model's input is fixed to {dims}")
    shape = [batch] + dims[1:]
    try:
        mod = from_onnx(model, shape_dict={inputs[0].name: shape})
    except Exception as e:  # pylint: disable=broad-except
        # The frontend raises plain exceptions for operators it has no converter for.
        message = one_line(e)
        if "not supported" in message or "NotImplemented" in type(e).__name__:
            raise Unsupported(message) from e
        raise
    return mod, {"name": inputs[0].name, "dims": dims, "dim_names": names, "shape": shape}


def lower(mod, target, opt_level, trials, tuning_dir, vector_lanes):
    """Relax graph to TIR kernels: operators legalized and fused, then each kernel either
    scheduled by MetaSchedule from the tuning database or by the default schedule."""
    import tvm
    from tvm import relax

    with target, tvm.transform.PassContext(opt_level=opt_level):
        # Batch norms become multiply-adds on constants. Relax's FoldConstant is skipped: it
        # compiles every constant subexpression separately (half a minute for a ResNet),
        # while the few per-channel operations it would save are fused into the kernels.
        mod = tvm.transform.Sequential([
            relax.transform.DecomposeOpsForInference(),
            relax.transform.CanonicalizeBindings(),
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ])(mod)
        if trials > 0:
            from tvm.s_tir import meta_schedule as ms

            # The random cost model: the default one needs xgboost, a large package; every
            # candidate is measured on this machine anyway.
            ms.relax_integration.tune_relax(mod, params={}, target=target, work_dir=tuning_dir,
                                            max_trials_global=trials, cost_model="random")
            mod = relax.transform.MetaScheduleApplyDatabase(tuning_dir)(mod)
        mod = default_schedule(vector_lanes)(mod)
    return mod


def one_line(e):
    """An exception's message on one line, without TVM's traceback."""
    text = str(e).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # TVM errors carry a C++ traceback ("File ..., line ...") before the message itself.
    lines = [l for l in lines if not l.startswith(("File ", "Traceback", "^"))]
    return " ".join(lines) if lines else type(e).__name__


def write_atomically(path, write):
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--out", required=True, help="the shared library to write")
    parser.add_argument("--opt-level", type=int, default=3)
    parser.add_argument("--target-features", default="host")
    parser.add_argument("--threads", type=int, default=0, help="cores to tune for (0: untuned)")
    parser.add_argument("--tuning-trials", type=int, default=0)
    parser.add_argument("--tuning-dir", default="")
    args = parser.parse_args()

    t0 = time.monotonic()
    try:
        import tvm
        from tvm.target import codegen

        target = host_target(args.target_features, args.threads)
        mod, inp = import_onnx(args.model, args.batch)
        # float32 lanes of the widest vector registers the target may use.
        vector_lanes = (16 if codegen.llvm_cpu_has_features(["avx512f"], target)
                        else 8 if codegen.llvm_cpu_has_features(["avx"], target) else 4)
        if args.tuning_trials > 0:
            os.makedirs(args.tuning_dir, exist_ok=True)
        mod = lower(mod, target, args.opt_level, args.tuning_trials, args.tuning_dir,
                    vector_lanes)
        with tvm.transform.PassContext(opt_level=args.opt_level):
            executable = tvm.compile(mod, target)
        meta = {
            "tvm_version": tvm.__version__,
            "target": str(target),
            "opt_level": args.opt_level,
            "tuning_trials": args.tuning_trials,
            "vector_lanes": vector_lanes,
            "input": inp,
            "compile_s": time.monotonic() - t0,
        }
        # The metadata first: the library's final name is what marks a complete entry.
        write_atomically(args.out + ".json", lambda p: open(p, "w", encoding="utf-8").write(
            json.dumps(meta, indent=1)))
        write_atomically(args.out, lambda p: executable.export_library(p))
    except Unsupported as e:
        print(f"unsupported: {one_line(e)}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    except Exception as e:  # pylint: disable=broad-except
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
