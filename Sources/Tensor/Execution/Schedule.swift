/// How the work of every phase is shared among threads, decided once per executor: a pure function of the
/// phases' tasks, their unit counts and costs, and the thread count.
///
/// Each thread gets one contiguous run of each phase's units, balanced by estimated cost (units keep their
/// task order, so a thread's share walks its weights in address order). A phase made only of one-unit tasks
/// (a decode step's norms and token-shift mixes) is thread 0's alone, and no barrier separates two such
/// phases, so their data stays in one core's cache. A share of any other phase worth at least
/// ``minimumSharedNanoseconds`` can be taken over from its back by threads that finish early,
/// ``claimNanoseconds`` of work per claim (its owner claims half of what is left, at least that). Never a
/// serial phase's: with no barrier around it, a thread that took its units over could run them before their
/// inputs exist, or after their consumers have read them.
struct Schedule: Equatable {
    /// Units `first ..< end` of task `task`.
    struct Assignment: Equatable {
        var task: Int32
        var first: Int32
        var end: Int32
    }

    let threadCount: Int
    let phaseCount: Int
    /// The assignments of every (thread, phase) share, thread by thread, phase by phase.
    let assignments: [Assignment]
    /// Share `thread · (phaseCount + 1) + phase` is `assignments[start[share] ..< start[share + 1]]`.
    let start: [Int]
    /// Per share: its unit count, and its claim size in units (0: too small to take over).
    let shareUnits: [Int32]
    let claimUnits: [Int32]
    /// Whether threads meet after each phase.
    let barrierAfter: [Bool]

    static let minimumSharedNanoseconds = 8_000.0, claimNanoseconds = 4_000.0

    /// `phases` lists task indices; `unitCounts` and `unitCosts` are per task.
    init(phases: [[Int]], unitCounts: [Int], unitCosts: [Double], threads: Int) {
        threadCount = max(1, threads)
        phaseCount = phases.count
        var perThread = [[[Assignment]]](repeating: [], count: threadCount)
        var serial: [Bool] = []
        for members in phases {
            var shares = [[Assignment]](repeating: [], count: threadCount)
            let isSerial = members.allSatisfy { unitCounts[$0] == 1 }
            serial.append(isSerial)
            let total = isSerial ? 0 : members.reduce(0.0) { $0 + Double(unitCounts[$1]) * unitCosts[$1] }
            var before = 0.0
            for task in members {
                for unit in 0..<unitCounts[task] {
                    let middle = before + (Double(unit) + 0.5) * unitCosts[task]
                    let owner = total > 0 ? min(threadCount - 1, Int(middle / total * Double(threadCount))) : 0
                    if let last = shares[owner].last, last.task == Int32(task), last.end == Int32(unit) {
                        shares[owner][shares[owner].count - 1].end += 1
                    } else {
                        shares[owner].append(Assignment(task: Int32(task), first: Int32(unit), end: Int32(unit + 1)))
                    }
                }
                before += Double(unitCounts[task]) * unitCosts[task]
            }
            for thread in 0..<threadCount { perThread[thread].append(shares[thread]) }
        }
        assignments = perThread.flatMap { $0.flatMap { $0 } }
        var start: [Int] = [], shareUnits: [Int32] = [], claimUnits: [Int32] = []
        var position = 0
        for thread in 0..<threadCount {
            for phase in 0...phases.count {
                start.append(position)
                guard phase < phases.count else {
                    shareUnits.append(0)
                    claimUnits.append(0)
                    continue
                }
                let share = perThread[thread][phase]
                position += share.count
                let units = share.reduce(0) { $0 + Int($1.end - $1.first) }
                let cost = share.reduce(0.0) { $0 + Double($1.end - $1.first) * unitCosts[Int($1.task)] }
                shareUnits.append(Int32(units))
                let sharable = threadCount > 1 && !serial[phase] && units > 1 && cost >= Self.minimumSharedNanoseconds
                claimUnits.append(sharable ? Int32(max(1, min(units, Int(Self.claimNanoseconds / (cost / Double(units)))))) : 0)
            }
        }
        start.append(position)
        self.start = start
        self.shareUnits = shareUnits
        self.claimUnits = claimUnits
        barrierAfter = (0..<phases.count).map { !(serial[$0] && $0 + 1 < serial.count && serial[$0 + 1]) }
    }

    /// Barriers in one run.
    var barrierCount: Int { barrierAfter.count { $0 } }
}
