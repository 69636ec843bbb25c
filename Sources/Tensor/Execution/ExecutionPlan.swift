/// How a graph is run: nodes grouped into phases (a node's phase is one after the latest phase it
/// depends on; nodes of one phase are independent and share a barrier), element-wise nodes folded into
/// the task of the node they consume, and every intermediate placed in one arena by liveness, once.
struct ExecutionPlan {
    /// Computed node ids of each phase that get a task of their own, in recording order.
    let phases: [[Int]]
    /// Element-wise nodes run in place on a task's output, right after it, per root node: a foldable op
    /// (the op table's `foldable`) whose chain input is the root (or a node already folded into it) read by
    /// nothing else, and whose other inputs are ready before the root's phase.
    let epilogues: [Int: [(node: Int, chainInput: Int)]]
    /// Arena byte offset of each node's output (nil for leaves and outputless nodes); a folded node
    /// shares its root's.
    let offsets: [Int?]
    /// Bytes of the arena.
    let arenaBytes: Int

    static let alignment = 64

    init(graph: Graph, foldingElementwise: Bool = true) {
        let nodes = graph.nodes
        var consumers = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for input in node.inputs { consumers[input.id] += 1 } }
        var isOutput = [Bool](repeating: false, count: nodes.count)
        for output in graph.outputs { isOutput[output.value.id] = true }

        var phase = [Int](repeating: -1, count: nodes.count)
        var root = [Int](repeating: -1, count: nodes.count)
        var phases: [[Int]] = []
        var epilogues: [Int: [(node: Int, chainInput: Int)]] = [:]
        for (id, node) in nodes.enumerated() where node.op.isComputed {
            if foldingElementwise, let (index, r) = Self.chainInput(of: id, nodes: nodes, consumers: consumers, isOutput: isOutput, phase: phase, root: root) {
                phase[id] = phase[r]
                root[id] = r
                epilogues[r, default: []].append((id, index))
                continue
            }
            var p = 0
            for input in node.inputs where phase[input.id] >= 0 { p = max(p, phase[input.id] + 1) }
            for other in node.orderAfter where phase[other] >= 0 { p = max(p, phase[other] + 1) }
            phase[id] = p
            if p == phases.count { phases.append([]) }
            phases[p].append(id)
        }

        // Liveness: a buffer is free from the phase after its last reader; outputs live forever. A root's
        // buffer lives as long as anything folded into it.
        var lastUse = phase
        for (id, node) in nodes.enumerated() where node.op.isComputed {
            for input in node.inputs { lastUse[input.id] = max(lastUse[input.id], phase[id]) }
        }
        for output in graph.outputs { lastUse[output.value.id] = Int.max }
        for (r, folded) in epilogues { for step in folded { lastUse[r] = max(lastUse[r], lastUse[step.node]) } }

        var allocator = ArenaAllocator()
        var offsets = [Int?](repeating: nil, count: nodes.count)
        var releaseAt: [Int: [Int]] = [:]
        for (p, members) in phases.enumerated() {
            for id in releaseAt[p, default: []] { allocator.free(offset: offsets[id]!, bytes: Self.bytes(of: nodes[id])) }
            for id in members {
                let bytes = Self.bytes(of: nodes[id])
                guard bytes > 0 else { continue }
                offsets[id] = allocator.allocate(bytes: bytes)
                if lastUse[id] != Int.max { releaseAt[lastUse[id] + 1, default: []].append(id) }
            }
        }
        for (r, folded) in epilogues { for step in folded { offsets[step.node] = offsets[r] } }
        self.phases = phases
        self.epilogues = epilogues
        self.offsets = offsets
        arenaBytes = allocator.highWater
    }

    /// The index of the input of node `id` it can be folded onto (see ``epilogues``) and the root whose
    /// task it joins, if any.
    private static func chainInput(of id: Int, nodes: [Graph.Node], consumers: [Int], isOutput: [Bool],
                                   phase: [Int], root: [Int]) -> (index: Int, root: Int)? {
        let node = nodes[id]
        guard node.orderAfter.isEmpty, let through = node.op.traits?.foldable?.through else { return nil }
        for index in through {
            let chain = node.inputs[index].id
            guard nodes[chain].op.isComputed, consumers[chain] == 1, !isOutput[chain],
                  nodes[chain].shape == node.shape, nodes[chain].dtype == .f32 else { continue }
            let r = root[chain] >= 0 ? root[chain] : chain
            guard nodes[r].op.traits?.takesEpilogue == true else { continue }
            let ready = node.inputs.indices.allSatisfy { $0 == index || phase[node.inputs[$0].id] < phase[r] }
            if ready { return (index, r) }
        }
        return nil
    }

    /// Arena bytes of a node's output, rounded up to the alignment.
    static func bytes(of node: Graph.Node) -> Int {
        if case .store = node.op { return 0 }
        let raw = node.dtype.rowBytes(node.shape.rowLength) * node.shape.rowCount
        return (raw + alignment - 1) / alignment * alignment
    }
}

/// First-fit allocation of aligned blocks inside one growing range, with coalescing frees.
struct ArenaAllocator {
    private(set) var highWater = 0
    /// Free blocks as (offset, bytes), sorted by offset, never adjacent.
    private var free: [(offset: Int, bytes: Int)] = []

    mutating func allocate(bytes: Int) -> Int {
        if let index = free.firstIndex(where: { $0.bytes >= bytes }) {
            let block = free[index]
            if block.bytes == bytes { free.remove(at: index) } else { free[index] = (block.offset + bytes, block.bytes - bytes) }
            return block.offset
        }
        // Grow, reusing a free block that ends at the high-water mark.
        if let last = free.last, last.offset + last.bytes == highWater {
            free.removeLast()
            highWater = last.offset + bytes
            return last.offset
        }
        defer { highWater += bytes }
        return highWater
    }

    mutating func free(offset: Int, bytes: Int) {
        var index = free.firstIndex(where: { $0.offset > offset }) ?? free.count
        free.insert((offset, bytes), at: index)
        if index + 1 < free.count, free[index].offset + free[index].bytes == free[index + 1].offset {
            free[index].bytes += free[index + 1].bytes
            free.remove(at: index + 1)
        }
        if index > 0, free[index - 1].offset + free[index - 1].bytes == free[index].offset {
            free[index - 1].bytes += free[index].bytes
            free.remove(at: index)
            index -= 1
        }
    }
}
