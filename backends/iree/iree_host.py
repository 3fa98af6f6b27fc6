"""The IREE backend's run path, imported by the plugin's embedded CPython.

The iree-base-runtime wheel has no C API, only this Python extension, so the plugin keeps
the timing loop in C++ and calls in here once per batch: Module.run() is one VM invocation
and a view of its result, nothing else. Inputs are imported as host allocations, not copied.
"""

import os

import numpy as np
import iree.runtime as rt

_FLOAT32 = np.dtype(np.float32)
# Host memory IREE reads and writes in place (the local-task device runs on the host).
_IMPORT_MEMORY = rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE
_IMPORT_USAGE = rt.BufferUsage.DEFAULT

# IREE's local-task driver is created once per process, with one task executor whose worker
# count the --task_topology_* flags fix at that moment (later devices share it). So every
# engine of a process runs with the first engine's thread count.
_device = None
_device_threads = 0
_device_workers = 0


def _thread_count():
    return len(os.listdir("/proc/self/task"))


def device(threads):
    """The local-task device with `threads` task workers, and the workers it started."""
    global _device, _device_threads, _device_workers
    if _device is None:
        rt.flags.parse_flags(f"--task_topology_group_count={threads}")
        before = _thread_count()
        driver = rt.get_driver("local-task")
        # The driver starts its executor's worker threads when it is created: counting them
        # reads back what IREE really runs rather than echoing the flag.
        _device_workers = _thread_count() - before
        _device = driver.create_default_device()
        _device_threads = threads
    elif threads != _device_threads:
        raise ValueError(
            f"this process already runs IREE's task executor with {_device_threads} threads "
            f"and IREE sizes it once per process; load an engine with {threads} threads in "
            "a new process (infermark runs each benchmark cell in its own)"
        )
    return _device, _device_workers


class Module:
    """One compiled .vmfb on the process's local-task device."""

    def __init__(self, vmfb_path, function, threads):
        self.device, self.workers = device(threads)
        self.instance = rt.VmInstance()
        hal = rt.create_hal_module(self.instance, self.device)
        # Mapped, not read: the module's weights stay in the page cache's copy.
        self.module = rt.VmModule.mmap(self.instance, vmfb_path)
        self.context = rt.VmContext(self.instance, [hal, self.module])
        self.function = self.module.lookup_function(function)
        if self.function is None:
            raise ValueError(
                f"{vmfb_path} has no function {function!r} "
                f"(it has {', '.join(self.module.function_names)})"
            )
        self.args = None
        self._keep = None

    def bind(self, memory, shape):
        """Uses `memory` (a writable float32 buffer the caller keeps alive) as the input."""
        buffer = self.device.allocator.import_host_allocation(memory, _IMPORT_MEMORY, _IMPORT_USAGE)
        view = rt.HalBufferView(buffer, list(shape), rt.HalElementType.FLOAT_32)
        args = rt.VmVariantList(1)
        args.push_ref(view)
        self.args, self._keep = args, memory

    def run(self):
        """Runs one batch on the bound input; returns a float32 view of the result."""
        results = rt.VmVariantList(1)
        self.context.invoke(self.function, self.args, results)
        out = results.get_as_object(0, rt.HalBufferView)
        return out.map().asarray(out.shape, _FLOAT32)
