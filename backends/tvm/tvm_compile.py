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


def simple_rule(sch, vector_lanes):
    """The basic shape of a CPU kernel, for any kernel: the outer spatial loops fused and run
    in parallel, and the innermost output loop split into vector-width lanes, with the
    reduction loops (sums) moved outside those lanes so that the lanes are independent sums
    LLVM can keep in one vector register. No tiling for caches, no layout change. Returns
    False when TVM cannot put the kernel's blocks in normal form (nothing scheduled)."""
    from tvm import tirx
    from tvm.s_tir.dlight import normalize_prim_func

    infos = normalize_prim_func(sch)
    if infos is None:
        return False
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
            # TIR vectorizes only loops whose blocks are all data parallel: the lanes of a
            # sum are unrolled instead for LLVM's SLP vectorizer.
            sch.decompose_reduction(info.block_rv, reduce[0])
            sch.unroll(inner)
        else:
            sch.vectorize(inner)
    return True


# Register block of the convolution rule: output pixels of a row by output channels. With
# 16-lane (AVX-512) vectors, 8 pixels x 2 vectors are 16 accumulators, leaving registers for
# the two weight vectors of each step (the input pixel is broadcast from memory).
CONV_PIXELS = (8, 7, 6, 4, 3, 2, 1)  # the first that divides the output width
CONV_VECTORS = 2  # channel vectors per block, when the channel count allows


def conv_nhwc_rule(sch, vector_lanes):
    """A channels-last (NHWC input, HWIO weights) convolution as a register-blocked kernel:
    each task of the thread pool computes a block of output pixels x output channels in
    vector registers over the whole reduction (kernel rows, columns, input channels), each
    step one weight vector per channel vector and one broadcast input value per pixel, so a
    loaded value serves several multiply-adds. Blocks are ordered channel block first, so a
    block's weights stay in cache while it sweeps the image. The bias, residual addition and
    activation that FuseOps fused after the convolution are computed as the block is
    written. Returns False (nothing changed) when the kernel has no such convolution."""
    blocks = [b for b in sch.get_child_blocks(sch.get_sblock("root"))
              if sch.get(b).name_hint.startswith("conv2d_nhwc")]
    if len(blocks) != 1:
        return False
    conv = blocks[0]
    loops = sch.get_loops(conv)
    if len(loops) != 7:
        return False
    n, h, w, c, rh, rw, rc = loops
    channels, width = (int(sch.get(l).extent) for l in (c, w))
    if channels % vector_lanes:
        return False
    vectors = CONV_VECTORS if channels % (CONV_VECTORS * vector_lanes) == 0 else 1
    pixels = next(p for p in CONV_PIXELS if width % p == 0)

    # The input copy that a convolution without padding starts with is read in place; a
    # padded one stays a kernel of its own (inlined, every load would test the border).
    for producer in sch.get_producers(conv):
        if "if_then_else" not in str(sch.get(producer)):
            sch.compute_inline(producer)

    c_o, c_i, c_v = sch.split(c, factors=[None, vectors, vector_lanes])
    w_o, w_i = sch.split(w, factors=[None, pixels])
    sch.reorder(n, c_o, h, w_o, rh, rw, rc, w_i, c_i, c_v)
    # The accumulators: a local block that LLVM keeps in registers (its indices are
    # constants once the pixel and vector loops are unrolled).
    acc = sch.cache_write(conv, 0, "local")
    sch.reverse_compute_at(acc, w_o, preserve_unit_loops=True)
    # The fused epilogue (bias, residual, activation) applied as the block is written back.
    while True:
        consumers = sch.get_consumers(acc)
        if len(consumers) != 1:
            break
        try:
            sch.reverse_compute_inline(consumers[0])
        except Exception:  # pylint: disable=broad-except
            break  # not element-wise: stays a kernel of its own, scheduled by the simple rule
    sch.parallel(sch.fuse(n, c_o, h, w_o))
    # Unrolled and vectorized before the reduction is split into its initialization and
    # update (TIR vectorizes a reduction only while it is whole); the initialization's
    # loops are copies of these and keep their kinds.
    sch.unroll(w_i)
    sch.unroll(c_i)
    sch.vectorize(c_v)
    sch.decompose_reduction(conv, rh)
    # Write-back: its innermost loop is the block's channels, written vector by vector.
    inner = sch.get_loops(acc)[-1]
    _, lanes = sch.split(inner, factors=[None, vector_lanes])
    sch.vectorize(lanes)
    return True


def schedule_kernel(sch, vector_lanes, blocked_conv):
    """Schedules one kernel in `sch` by infermark's rules; False when no rule applied."""
    if blocked_conv:
        # Tried on a copy first: a rule that fails half-way must leave nothing behind. The
        # rules are deterministic, so the second pass on `sch` does the same.
        try:
            ok = conv_nhwc_rule(sch.copy(), vector_lanes)
        except Exception:  # pylint: disable=broad-except
            ok = False  # a shape the rule does not handle: the simple rule below
        if ok:
            conv_nhwc_rule(sch, vector_lanes)
            return simple_rest(sch, vector_lanes)  # the padding kernel, if any
    return simple_rule(sch, vector_lanes)


def default_schedule(vector_lanes, blocked_conv):
    """Without tuning, TVM's Relax CPU pipeline leaves every operator as plain loops: one
    thread, scalar or whatever LLVM vectorizes by itself. This pass schedules each kernel:
    a channels-last convolution by the register-blocked rule (when `blocked_conv`), every
    other kernel (and any block the convolution rule left) by the simple rule."""
    from tvm import s_tir, tirx
    from tvm.ir.transform import module_pass

    def schedule(func):
        sch = s_tir.Schedule(func)
        return sch if schedule_kernel(sch, vector_lanes, blocked_conv) else None

    @module_pass(opt_level=0, name="InfermarkDefaultCpuSchedule")
    def apply(mod, _ctx):
        updated = {}
        for gvar, func in mod.functions_items():
            if isinstance(func, tirx.PrimFunc) and not func.attrs.get("tirx.is_scheduled", False):
                try:
                    sch = schedule(func)
                except Exception:  # pylint: disable=broad-except
                    sch = None  # a shape the rules do not handle stays as plain loops
                if sch is not None:
                    updated[gvar] = sch.mod["main"].with_attr("tirx.is_scheduled", True)
        for gvar, func in updated.items():
            mod[gvar] = func
        return mod

    return apply


def simple_rest(sch, vector_lanes):
    """The simple rule on the blocks of a kernel that are still plain loops at the root (the
    padding before a blocked convolution): parallel outer loops and vector lanes."""
    from tvm import tirx

    root = sch.get_sblock("root")
    for block in sch.get_child_blocks(root):
        loops = sch.get_loops(block)
        if not loops or any(sch.get(l).kind != tirx.ForKind.SERIAL for l in loops):
            continue  # already scheduled
        iters = sch.get(block).iter_vars
        if len(iters) != len(loops) or any(int(v.iter_type) != 0 for v in iters):
            continue  # only data-parallel blocks here
        inner = loops[-1]
        extent = int(sch.get(inner).extent)
        if extent % vector_lanes == 0 and extent > vector_lanes:
            outer, inner = sch.split(inner, factors=[None, vector_lanes])
            rest = loops[:-1] + [outer]
        elif extent == vector_lanes:
            rest = loops[:-1]
        else:
            rest = loops
            inner = None
        if rest:
            sch.parallel(sch.fuse(*rest) if len(rest) > 1 else rest[0])
        if inner is not None:
            sch.vectorize(inner)
    return True


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


def lower(mod, target, opt_level, layout, schedule, vector_lanes, tuning):
    """Relax graph to TIR kernels, then each kernel scheduled.

    layout "NHWC": batch norms folded into the convolutions before them, convolutions turned
    channels-last (NHWC activations, HWIO weights; TVM's ConvertLayout moves the transposes
    to the graph's input and output, and the weights' ones are folded at compile time).
    layout "NCHW": the graph as imported, batch norms decomposed into multiply-adds.
    Then operators are legalized to TIR and fused; each kernel is scheduled by MetaSchedule
    from the tuning database when tuning (`tuning`: the tuning options, None without), and
    the others by infermark's rules (schedule "blocked" or "simple") or left as TVM's plain
    loops ("none"). Returns the module and what tuning did."""
    import tvm
    from tvm import relax

    tuned = None
    with target, tvm.transform.PassContext(opt_level=opt_level):
        if layout == "NHWC":
            # FoldConstant compiles each constant expression separately (10 to 20 s for a
            # ResNet-50): paid once per compile, for weights prepared once instead of per run.
            mod = tvm.transform.Sequential([
                relax.transform.FoldBatchnormToConv2D(),
                relax.transform.FoldConstant(),
                relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]}),
                relax.transform.FoldConstant(),
            ])(mod)
        # What is left of batch norms becomes multiply-adds on constants, fused into the
        # kernels around them (without FoldConstant here: see above).
        mod = tvm.transform.Sequential([
            relax.transform.DecomposeOpsForInference(),
            relax.transform.CanonicalizeBindings(),
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ])(mod)
        if tuning is not None:
            mod, tuned = tune_and_apply(mod, target, tuning)
        if schedule != "none":
            mod = default_schedule(vector_lanes, schedule == "blocked")(mod)
    return mod, tuned


# MetaSchedule's search, sized for a machine of a few cores: its evolutionary search
# generates and mutates a population of candidate schedules for a kernel before each round
# of measurements, and with its defaults (64 candidates a round, a population of 512, 4
# generations) a round took 1 to 5 minutes on 2 cores (builds timing out under load). A
# population of 128, 2 generations and 8 candidates a round let 200 trials visit each of a
# ResNet-50's 25 convolutions and matrix products in about 20 minutes.
TUNED_OPS = ["conv2d", "matmul", "dense"]
TRIALS_PER_ROUND = 8
SEARCH = {"population_size": 128, "init_min_unmeasured": 16, "genetic_num_iters": 2}


def record_default_schedules(mod, target, tuning, builder, runner, database):
    """Measures infermark's default schedule of each kernel to be tuned with MetaSchedule's
    own builder and runner, and stores it in the tuning database as one more record. Applying
    the database then takes, kernel by kernel, the faster of the default schedule and the
    best one the search found: tuning never makes a kernel slower than the untuned build
    (within the noise of one measurement), whatever its budget. Returns how many kernels got
    such a record."""
    from tvm import s_tir
    from tvm.s_tir import meta_schedule as ms

    candidates = []
    for task in ms.relax_integration.extract_tasks(mod, target, params={},
                                                   module_equality="structural"):
        if not any(op in task.task_name for op in TUNED_OPS):
            continue
        workload_mod = task.dispatched[0]
        sch = s_tir.Schedule(workload_mod)
        if tuning["schedule"] != "none" and schedule_kernel(
                sch, tuning["vector_lanes"], tuning["schedule"] == "blocked"):
            candidates.append((workload_mod, sch))
    if not candidates:
        return 0
    args = [ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True)
            for _, sch in candidates]
    built = builder.build([ms.builder.BuilderInput(sch.mod, target) for _, sch in candidates])
    inputs, kept = [], []
    for (workload_mod, sch), arg, result in zip(candidates, args, built):
        if result.error_msg is None:
            inputs.append(ms.runner.RunnerInput(result.artifact_path, "cpu", arg))
            kept.append((workload_mod, sch, arg))
    recorded = 0
    for (workload_mod, sch, arg), future in zip(kept, runner.run(inputs)):
        result = future.result()
        if result.error_msg is None and result.run_secs:
            workload = database.commit_workload(workload_mod)
            database.commit_tuning_record(ms.database.TuningRecord(
                sch.trace, workload, [float(t) for t in result.run_secs], target, arg))
            recorded += 1
    return recorded


def tune_and_apply(mod, target, tuning):
    """MetaSchedule: tunes the module's kernels on this machine unless the database in
    tuning["dir"] already holds a tuning of this target with at least as many trials, then
    schedules every kernel the database knows with its best record.

    With weight prepacking, the weights (constants of the module) are marked layout-free
    before tuning, so that MetaSchedule may choose a blocked layout for them; the layout
    change is then split into kernels of its own and folded away at compile time, so the
    library holds the weights already packed and main() keeps its one input."""
    import tvm
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    work_dir = tuning["dir"]
    os.makedirs(work_dir, exist_ok=True)
    if tuning["prepack"]:
        mod = relax.transform.AttachAttrLayoutFreeBuffers()(mod)
    # What this folder has already been tuned for: {target, options and input shape: trials,
    # seconds}. One folder serves every batch of a model; each batch's kernels differ.
    # MetaSchedule's own files hold the measured records; this says whether they suffice.
    ledger_path = os.path.join(work_dir, "infermark-tuning.json")
    try:
        with open(ledger_path, encoding="utf-8") as f:
            ledger = json.load(f)
    except (OSError, ValueError):
        ledger = {}
    key = json.dumps({"target": str(target), "prepack": tuning["prepack"],
                      "cost_model": tuning["cost_model"], "ops": TUNED_OPS,
                      "per_round": TRIALS_PER_ROUND, "search": SEARCH,
                      "schedule": tuning["schedule"], "input": tuning["input"]},
                     sort_keys=True)
    done = ledger.get(key, {})
    tuned = {"trials": tuning["trials"], "database": work_dir}
    if done.get("trials", 0) >= tuning["trials"]:
        tuned["tuning"] = "reused"
        tuned["tuned_trials"] = done["trials"]
    else:
        t0 = time.monotonic()
        # One pool of builder and runner processes for the default schedule's measurement
        # and the search (each pool starts a Python process per worker).
        builder = ms.builder.LocalBuilder(max_workers=target.attrs.get("num-cores", 1))
        runner = ms.runner.LocalRunner()
        database = ms.database.JSONDatabase(work_dir=work_dir, module_equality="structural")
        tuned["default_records"] = record_default_schedules(
            mod, target, tuning, builder, runner, database)
        ms.relax_integration.tune_relax(
            mod, params={}, target=target, work_dir=work_dir,
            max_trials_global=tuning["trials"],
            # Only the kernels that do the arithmetic: convolutions and matrix products.
            # Element-wise kernels, pooling and reshapes keep the default schedule (tuning
            # them spends a search round each for a fraction of a percent of the time).
            op_names=TUNED_OPS,
            num_trials_per_iter=TRIALS_PER_ROUND,
            strategy=ms.search_strategy.EvolutionarySearch(**SEARCH),
            builder=builder, runner=runner, database=database,
            cost_model=tuning["cost_model"], seed=tuning["seed"])
        tuned["tuning"] = "tuned"
        tuned["tuning_s"] = time.monotonic() - t0
        ledger[key] = {"trials": tuning["trials"], "tuning_s": tuned["tuning_s"]}
        write_atomically(ledger_path, lambda p: open(p, "w", encoding="utf-8").write(
            json.dumps(ledger, indent=1)))
    mod = relax.transform.MetaScheduleApplyDatabase(work_dir)(mod)
    # Which kernels got a tuned schedule: the others keep the default one (or plain loops).
    kernels = [f for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    tuned["kernels"] = len(kernels)
    tuned["kernels_tuned"] = sum(1 for f in kernels if f.attrs.get("tirx.is_scheduled", False))
    if tuning["prepack"]:
        mod = tvm.transform.Sequential([
            relax.transform.SplitLayoutRewritePreproc(),
            relax.transform.FoldConstant(),
        ])(mod)
    return mod, tuned


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
    parser.add_argument("--tuning-cost-model", default="xgb", choices=["xgb", "random"],
                        help="MetaSchedule's cost model: xgb (XGBoost, its default) or random")
    parser.add_argument("--tuning-seed", type=int, default=1)
    parser.add_argument("--weight-prepack", type=int, default=1,
                        help="1: let tuned kernels read weights in a layout of their choice")
    parser.add_argument("--schedule", default="blocked", choices=["blocked", "simple", "none"],
                        help="untuned kernels: infermark's rules (blocked convolutions, or the "
                        "simple rule only) or TVM's plain loops")
    parser.add_argument("--layout", default="NHWC", choices=["NHWC", "NCHW"],
                        help="convolutions channels-last (batch norms folded) or as imported")
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
        tuning = None
        if args.tuning_trials > 0:
            tuning = {"trials": args.tuning_trials, "dir": args.tuning_dir,
                      "cost_model": args.tuning_cost_model, "seed": args.tuning_seed,
                      "prepack": bool(args.weight_prepack), "schedule": args.schedule,
                      "vector_lanes": vector_lanes,
                      # Another input shape (batch) makes other kernels: tuned apart.
                      "input": inp["shape"]}
        mod, tuned = lower(mod, target, args.opt_level, args.layout, args.schedule, vector_lanes,
                           tuning)
        t_build = time.monotonic()
        with tvm.transform.PassContext(opt_level=args.opt_level):
            executable = tvm.compile(mod, target)
        meta = {
            "tvm_version": tvm.__version__,
            "target": str(target),
            "opt_level": args.opt_level,
            "tuning_trials": args.tuning_trials,
            "vector_lanes": vector_lanes,
            "input": inp,
            "schedule": args.schedule,
            "layout": args.layout,
            "compile_s": time.monotonic() - t0,
            "build_s": time.monotonic() - t_build,
        }
        if tuned is not None:
            meta["tuning"] = tuned
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
