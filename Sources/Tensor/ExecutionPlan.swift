/// How a graph is run: nodes grouped into phases (a node's phase is one after the latest phase it
/// depends on; nodes of one phase are independent and share a barrier), and every intermediate placed
/// in one arena by liveness, once.
struct ExecutionPlan {
    /// Computed node ids of each phase, in recording order.
    let phases: [[Int]]
    /// Arena byte offset of each node's output (nil for leaves and outputless nodes).
    let offsets: [Int?]
    /// Bytes of the arena.
    let arenaBytes: Int

    static let alignment = 64

    init(graph: Graph) {
        let nodes = graph.nodes
        var phase = [Int](repeating: -1, count: nodes.count)
        var phases: [[Int]] = []
        for (id, node) in nodes.enumerated() where node.op.isComputed {
            var p = 0
            for input in node.inputs where phase[input.id] >= 0 { p = max(p, phase[input.id] + 1) }
            for other in node.orderAfter where phase[other] >= 0 { p = max(p, phase[other] + 1) }
            phase[id] = p
            if p == phases.count { phases.append([]) }
            phases[p].append(id)
        }

        // Liveness: a buffer is free from the phase after its last reader; outputs live forever.
        var lastUse = phase
        for (id, node) in nodes.enumerated() where node.op.isComputed {
            for input in node.inputs { lastUse[input.id] = max(lastUse[input.id], phase[id]) }
        }
        for output in graph.outputs { lastUse[output.value.id] = Int.max }

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
        self.phases = phases
        self.offsets = offsets
        arenaBytes = allocator.highWater
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
