import CMallocCounter
import Tensor
import Testing

extension TensorTestSuite {
    struct ExecutorTests {
        /// A graph of matmuls, norms and the WKV op on state, run many times on several threads with a
        /// counter on every heap allocation of the process: the runs allocate nothing.
        @Test(.enabled(if: rwkv_malloc_counter_available() != 0, "heap counting is off under sanitizers"), arguments: KernelLevel.supported)
        func runningAllocatesNothing(_ level: KernelLevel) throws {
            let c = 128
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(c, 4))
            let state = try graph.state("s", Shape(64, 64, 2))
            var h = x
            for i in 0..<3 {
                let w = graph.weight(try randomTensor(Shape(c, c), scale: 0.1, seed: UInt64(i)).converted(to: i == 1 ? .q8_0 : .f32))
                h = try graph.tanh(try graph.matmul(w, h))
            }
            let y = try graph.wkv7(r: h, w: try graph.sigmoid(h), k: h, v: x, a: try graph.scale(h, -0.1), b: try graph.scale(h, 0.1), state: state, headSize: 64)
            try graph.output(try graph.add(y, x), "y")
            let executor = Executor(graph: graph, threads: 3, level: level)
            try executor.bind("x", try randomTensor(Shape(c, 4), seed: 1))
            try executor.bind("s", try Tensor(zeros: .f32, Shape(64, 64, 2)))
            for _ in 0..<5 { try executor.run() }
            // Count the executor's own threads (the caller and every team member), not other tests'.
            executor.forEachThread { _, _, _ in rwkv_malloc_counter_count_current_thread(1) }
            defer { executor.forEachThread { _, _, _ in rwkv_malloc_counter_count_current_thread(0) } }
            rwkv_malloc_counter_start()
            for _ in 0..<200 { try executor.run() }
            let allocations = rwkv_malloc_counter_stop()
            #expect(allocations == 0, "\(allocations) heap allocations during 200 runs")
            // The counter itself sees an allocation on each of the team's threads.
            rwkv_malloc_counter_start()
            executor.forEachThread { _, _, _ in
                let block = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
                block.deallocate()
            }
            #expect(rwkv_malloc_counter_stop() >= 3)
        }

        /// More threads than cores: members are descheduled mid-phase and the others take over the rest
        /// of their shares. Whoever runs a unit, every unit runs once per run (inputs alternate, so a
        /// skipped unit would leave the other input's values) and results stay bit-identical.
        @Test func takenOverSharesKeepResultsBitIdentical() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(256, 1))
            let w1 = graph.weight(try randomTensor(Shape(256, 8192), scale: 0.05, seed: 11))
            let w2 = graph.weight(try randomTensor(Shape(8192, 256), scale: 0.05, seed: 12).converted(to: .q8_0))
            try graph.output(try graph.matmul(w2, try graph.tanh(try graph.matmul(w1, x))), "y")
            let inputs = [try randomTensor(Shape(256, 1), seed: 13), try randomTensor(Shape(256, 1), seed: 14)]
            let single = Executor(graph: graph, threads: 1)
            let wants = try inputs.map { input in
                try single.bind("x", input)
                try single.run()
                #expect(single.unitsTakenOverInLastRun == 0)
                return try single.output("y").floats().map(\.bitPattern)
            }
            #expect(wants[0] != wants[1])

            let executor = Executor(graph: graph, threads: 8)
            var taken = 0
            for run in 0..<500 where taken < 1000 {
                try executor.bind("x", inputs[run % 2])
                try executor.run()
                taken += executor.unitsTakenOverInLastRun
                #expect(try executor.output("y").floats().map(\.bitPattern) == wants[run % 2], "run \(run)")
            }
            #expect(taken > 0, "no thread ever took over another's units")
        }

        @Test func arenaReusesMemoryOfDeadIntermediates() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(1024, 1))
            var h = x
            for _ in 0..<50 { h = try graph.tanh(h) }
            try graph.output(h, "y")
            let executor = Executor(graph: graph, threads: 2, foldingElementwise: false)
            // A chain needs two live buffers at a time, not fifty.
            #expect(executor.arenaBytes <= 2 * 4096)
            #expect(executor.phaseCount == 50)
            // Folded, the chain is one task on one buffer.
            let folded = Executor(graph: graph, threads: 2)
            #expect(folded.arenaBytes == 4096)
            #expect(folded.phaseCount == 1)
            try folded.bind("x", try randomTensor(Shape(1024, 1), seed: 3))
            try folded.run()
            try executor.bind("x", try randomTensor(Shape(1024, 1), seed: 3))
            try executor.run()
            // The same bits folded or not, and libm's tanhf fifty times over within the vectorised tanh's few ulps.
            let want = try randomTensor(Shape(1024, 1), seed: 3).floats().map { (0..<50).reduce($0) { v, _ in tanhf(v) } }
            let got = try executor.output("y").floats()
            #expect(try folded.output("y").floats() == got)
            #expect(zip(got, want).map { abs($0 - $1) }.max()! <= 1e-6)
        }

        @Test func independentNodesShareAPhase() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(64, 1))
            let a = try graph.sigmoid(x), b = try graph.tanh(x), c = try graph.exp(x)
            try graph.output(try graph.add(try graph.add(a, b), c), "y")
            #expect(Executor(graph: graph, foldingElementwise: false).phaseCount == 3)
            // The second add folds onto the first (c is ready by then); the first cannot fold onto a or b,
            // whose partner is computed in the same phase.
            #expect(Executor(graph: graph).phaseCount == 2)
        }

        /// Phases of one-unit tasks run on thread 0 alone with no barrier between them; a phase with
        /// several units is shared again and fenced on both sides.
        @Test func oneUnitPhasesRunAloneWithoutBarriers() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(64, 1))
            let ones = graph.weight(try Tensor([Float](repeating: 1, count: 64), shape: Shape(64)))
            let zeros = graph.weight(try Tensor(zeros: .f32, Shape(64)))
            var h = x
            for _ in 0..<4 { h = try graph.layerNorm(h, weight: ones, bias: zeros, eps: 1e-5) }
            h = try graph.matmul(graph.weight(try randomTensor(Shape(64, 256), scale: 0.1, seed: 5)), h)
            for _ in 0..<3 { h = try graph.l2NormalizeHeads(h, headSize: 16, eps: 1e-12) }
            try graph.output(h, "y")
            let input = try randomTensor(Shape(64, 1), seed: 6)
            var outputs: [[UInt32]] = []
            for threads in [1, 2, 3] {
                let executor = Executor(graph: graph, threads: threads)
                #expect(executor.phaseCount == 8)
                // Four norms (one barrier after the last), the matmul, three normalisations (one at the end).
                #expect(executor.barrierCount == 3)
                try executor.bind("x", input)
                try executor.run()
                outputs.append(try executor.output("y").floats().map(\.bitPattern))
            }
            #expect(outputs[1] == outputs[0] && outputs[2] == outputs[0])
        }

        /// Phases of one-unit tasks are thread 0's alone even when they are long and the other threads
        /// are idle: with no barrier between two such phases, a unit taken over by another thread could
        /// run before its inputs were written (CI saw a server's stream end early from this). Eight
        /// threads on fewer cores, so that thread 0 is often descheduled mid-phase.
        @Test func oneUnitPhasesAreNeverTakenOver() throws {
            var graph = Graph()
            let n = 1 << 16
            let x = try graph.input("x", .f32, Shape(n, 1))
            let ones = graph.weight(try Tensor([Float](repeating: 1, count: n), shape: Shape(n)))
            let zeros = graph.weight(try Tensor(zeros: .f32, Shape(n)))
            var rows = [x, x, x, x]
            for _ in 0..<6 { rows = try rows.map { try graph.layerNorm($0, weight: ones, bias: zeros, eps: 1e-5) } }
            try graph.output(try graph.add(try graph.add(rows[0], rows[1]), try graph.add(rows[2], rows[3])), "y")
            let input = try randomTensor(Shape(n, 1), seed: 21)
            let single = Executor(graph: graph, threads: 1)
            try single.bind("x", input)
            try single.run()
            let want = try single.output("y").floats().map(\.bitPattern)
            let executor = Executor(graph: graph, threads: 8)
            #expect(executor.barrierCount == 1)
            try executor.bind("x", input)
            for run in 0..<300 {
                try executor.run()
                #expect(executor.unitsTakenOverInLastRun == 0, "run \(run)")
                #expect(try executor.output("y").floats().map(\.bitPattern) == want, "run \(run)")
            }
        }

        @Test func stateWritesWaitForEveryReader() throws {
            // shift reads the state, store overwrites it: the shift must see the old value on every run.
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(4, 2))
            let s = try graph.state("s", Shape(4))
            let shifted = try graph.shift(x, previous: s)
            try graph.store(try graph.rows(x, start: 1, count: 1), into: s)
            try graph.output(try graph.add(shifted, x), "y")
            for threads in [1, 2, 4] {
                let executor = Executor(graph: graph, threads: threads)
                let state = try Tensor([9, 9, 9, 9], shape: Shape(4))
                try executor.bind("x", try Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: Shape(4, 2)))
                try executor.bind("s", state)
                try executor.run()
                #expect(try executor.output("y").floats() == [10, 11, 12, 13, 6, 8, 10, 12])
                #expect(state.floats() == [5, 6, 7, 8])
                try executor.run()
                #expect(try executor.output("y").floats() == [6, 8, 10, 12, 6, 8, 10, 12])
            }
        }

        @Test func arenaAllocatorCoalescesFreedBlocks() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(256, 1))
            let a = try graph.tanh(x), b = try graph.sigmoid(x)
            let c = try graph.add(a, b)
            let d = try graph.exp(c)
            try graph.output(d, "y")
            let executor = Executor(graph: graph)
            // a, b and c (1 KiB each) are live together in c's phase; d reuses a's block.
            #expect(executor.arenaBytes == 3 * 1024)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
