import Synchronization

/// An error found while binding or running a graph.
public struct ExecutionError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a ``Graph`` many times on one worker team.
///
/// Everything is prepared once here: the phase plan, the arena (one allocation for every
/// intermediate), the lowered kernel tasks and each thread's share of every phase. ``run()`` then
/// allocates nothing; threads walk the phases, doing their precomputed units, with a barrier between
/// phases. Units never depend on the thread count, so results are bit-identical for any `threads`.
public final class Executor: @unchecked Sendable {
    public let graph: Graph
    public let threadCount: Int
    /// Bytes of the intermediate arena.
    public var arenaBytes: Int { arena.byteCount }
    /// Number of barrier-separated phases.
    public var phaseCount: Int { plan.phases.count }

    private let plan: ExecutionPlan
    private let phases: Int
    private let team: WorkerTeam
    private let arena: TensorStorage
    private let tasks: UnsafeMutablePointer<KernelTask>
    private let taskCount: Int
    private let pointerTable: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let pointerCount: Int
    /// (pointer-table index, slot) pairs patched by ``bind(_:_:)``.
    private let slotPatches: [(index: Int, slot: Int)]
    private var bound: [Tensor?]
    private var unboundCount: Int
    /// Units of each (thread, phase): `assignmentStart[thread * (phases + 1) + phase] ..< [… + 1]`.
    private let assignments: UnsafeMutablePointer<Assignment>
    private let assignmentStart: UnsafeMutablePointer<Int>
    private let badTokenIDs = Atomic<Int>(0)

    private struct Assignment {
        var task: Int32
        var first: Int32
        var end: Int32
    }

    /// Prepares `graph` for `threads` threads on a team of its own.
    public convenience init(graph: Graph, threads: Int = 1, backend: ThreadBackend = .swift) {
        self.init(graph: graph, team: WorkerTeam(threads: threads, backend: backend))
    }

    /// Prepares `graph` for an existing team (several executors may share one, but must not run at once).
    public init(graph: Graph, team: WorkerTeam) {
        self.graph = graph
        threadCount = team.threadCount
        plan = ExecutionPlan(graph: graph)
        phases = plan.phases.count
        MatmulKernels.useSingleThreadedBLAS()
        self.team = team
        arena = TensorStorage(zeroedByteCount: plan.arenaBytes)
        bound = Array(repeating: nil, count: graph.slots.count)
        unboundCount = graph.slots.count

        // Lower computed nodes in phase order; inputs point at weights, slots (patched later) or the arena.
        let ordered = plan.phases.flatMap { $0 }
        taskCount = ordered.count
        let tasks = UnsafeMutablePointer<KernelTask>.allocate(capacity: max(1, taskCount))
        self.tasks = tasks
        pointerCount = ordered.reduce(0) { $0 + graph.nodes[$1].inputs.count + 1 }
        pointerTable = .allocate(capacity: max(1, pointerCount))
        var patches: [(Int, Int)] = []
        var taskIndex: [Int: Int] = [:]
        var cursor = 0
        let placeholder = arena.base
        for (index, id) in ordered.enumerated() {
            let node = graph.nodes[id]
            let inputs = pointerTable + cursor
            var references = node.inputs
            if case .store(let slot) = node.op { references.append(graph.slots[slot].value) }
            for (i, input) in references.enumerated() {
                switch graph.nodes[input.id].op {
                case .slot(let slot):
                    (inputs + i).initialize(to: placeholder)
                    patches.append((cursor + i, slot))
                case .weight(let tensor):
                    (inputs + i).initialize(to: tensor.storage.base + tensor.byteOffset)
                default:
                    (inputs + i).initialize(to: arena.base + plan.offsets[input.id]!)
                }
            }
            cursor += references.count
            let arenaBase = arena.base
            let out = plan.offsets[id].map { arenaBase + $0 } ?? placeholder
            (tasks + index).initialize(to: Lowering.task(for: node, graph: graph, out: out, inputs: inputs))
            taskIndex[id] = index
        }
        slotPatches = patches

        // Each thread's contiguous share of every phase, balanced by estimated cost.
        var perThread = [[[Assignment]]](repeating: [], count: threadCount)
        for members in plan.phases {
            var shares = [[Assignment]](repeating: [], count: threadCount)
            let total = members.reduce(0.0) { $0 + tasks[taskIndex[$1]!].unitCostTotal }
            var before = 0.0
            for id in members {
                let t = taskIndex[id]!
                let task = tasks[t]
                for unit in 0..<task.unitCount {
                    let middle = before + (Double(unit) + 0.5) * task.unitCost
                    let owner = total > 0 ? min(threadCount - 1, Int(middle / total * Double(threadCount))) : 0
                    if let last = shares[owner].last, last.task == Int32(t), last.end == Int32(unit) {
                        shares[owner][shares[owner].count - 1].end += 1
                    } else {
                        shares[owner].append(Assignment(task: Int32(t), first: Int32(unit), end: Int32(unit + 1)))
                    }
                }
                before += task.unitCostTotal
            }
            for thread in 0..<threadCount { perThread[thread].append(shares[thread]) }
        }
        let flat = perThread.flatMap { $0.flatMap { $0 } }
        assignments = .allocate(capacity: max(1, flat.count))
        assignments.initialize(from: flat, count: flat.count)
        assignmentStart = .allocate(capacity: threadCount * (phases + 1))
        var position = 0
        for thread in 0..<threadCount {
            for phase in 0..<phases {
                assignmentStart[thread * (phases + 1) + phase] = position
                position += perThread[thread][phase].count
            }
            assignmentStart[thread * (phases + 1) + phases] = position
        }
    }

    deinit {
        tasks.deinitialize(count: taskCount)
        tasks.deallocate()
        pointerTable.deallocate()
        assignments.deallocate()
        assignmentStart.deallocate()
    }

    /// Binds slot `name` to `tensor` (same dtype and element count; writable for a state slot). The
    /// executor reads and writes the tensor's memory on every run until it is bound again.
    public func bind(_ name: String, _ tensor: Tensor) throws {
        guard let slot = graph.slots.firstIndex(where: { $0.name == name }) else {
            throw ExecutionError("no slot named '\(name)'")
        }
        let info = graph.slots[slot]
        guard tensor.dtype == info.dtype, tensor.shape.count == info.shape.count, tensor.shape[0] == info.shape[0] else {
            throw ExecutionError("slot '\(name)' needs \(info.dtype) \(info.shape), got \(tensor.dtype) \(tensor.shape)")
        }
        guard !info.isState || tensor.isWritable else { throw ExecutionError("state slot '\(name)' needs writable memory") }
        if bound[slot] == nil { unboundCount -= 1 }
        bound[slot] = tensor
        let base = tensor.storage.base + tensor.byteOffset
        for patch in slotPatches where patch.slot == slot { pointerTable[patch.index] = base }
    }

    /// Runs the graph once. Allocates nothing.
    public func run() throws {
        guard unboundCount == 0 else {
            let missing = graph.slots.indices.first { bound[$0] == nil }!
            throw ExecutionError("slot '\(graph.slots[missing].name)' is not bound")
        }
        badTokenIDs.store(0, ordering: .relaxed)
        team.run(Executor.threadBody, context: Unmanaged.passUnretained(self).toOpaque())
        if badTokenIDs.load(ordering: .relaxed) != 0 {
            throw ExecutionError("a token id is outside the embedding table")
        }
    }

    /// Runs `body(context, ith, nth)` once on every thread of this executor's team (for per-thread setup
    /// such as floating-point modes or instrumentation).
    public func forEachThread(_ body: TeamBody, context: UnsafeMutableRawPointer? = nil) {
        team.run(body, context: context)
    }

    /// The result named `name` from the last run: a view into the arena, overwritten by the next run.
    public func output(_ name: String) throws -> Tensor {
        guard let entry = graph.outputs.first(where: { $0.name == name }) else { throw ExecutionError("no output named '\(name)'") }
        let node = graph.nodes[entry.value.id]
        return Tensor(dtype: node.dtype, shape: node.shape, storage: arena, byteOffset: plan.offsets[entry.value.id]!)
    }

    private static let threadBody: TeamBody = { context, ith, nth in
        let executor = Unmanaged<Executor>.fromOpaque(context!).takeUnretainedValue()
        executor.work(ith: Int(ith), nth: Int(nth))
    }

    /// One thread's walk over the phases. When the team is smaller than planned (OpenMP may give fewer
    /// threads), member `ith` also does the shares of planned threads `ith + nth`, `ith + 2·nth`, ….
    private func work(ith: Int, nth: Int) {
        for phase in 0..<phases {
            var thread = ith
            while thread < threadCount {
                let row = thread * (phases + 1) + phase
                for a in assignmentStart[row]..<assignmentStart[row + 1] {
                    let assignment = assignments[a]
                    execute(tasks[Int(assignment.task)], units: Int(assignment.first)..<Int(assignment.end))
                }
                thread += nth
            }
            team.barrier()
        }
    }

    @inline(__always) private func execute(_ task: KernelTask, units: Range<Int>) {
        switch task.kind {
        case .matmulF32: MatmulKernels.f32(task, units: units)
        case .matmulF16: MatmulKernels.f16(task, units: units)
        case .matmulQuantized: MatmulKernels.quantized(task, units: units)
        case .matmulBlocks: MatmulKernels.blocks(task, units: units)
        case .convertRows: MatmulKernels.convertRows(task, rows: units)
        case .layerNorm, .groupNorm, .l2NormalizeHeads: NormKernels.run(task, rows: units)
        case .wkv7: WKV7Kernel.run(task, units: units)
        case .vectorTimesTokenMatrix: ElementwiseKernels.vectorTimesTokenMatrix(task, tokens: units)
        case .getRows:
            if !ElementwiseKernels.getRows(task, rows: units) { badTokenIDs.store(1, ordering: .relaxed) }
        default: ElementwiseKernels.run(task, rows: units)
        }
    }
}

extension KernelTask {
    var unitCostTotal: Double { Double(unitCount) * unitCost }
}
