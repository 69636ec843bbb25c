import Foundation

/// Memory figures the kernel reports (Linux `/proc`), for refusing a model that will not fit before
/// allocating it and for measuring peak memory.
public enum SystemMemory {
    /// Kilobytes from a `/proc` line such as `VmHWM:\t11534336 kB` (tab or spaces after the colon).
    public static func kilobytes(inLine line: Substring) -> Int? {
        Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    }

    /// Bytes of `field` (such as `MemAvailable`) in the `/proc` file `path`, nil where unavailable.
    public static func bytes(of field: String, in path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kilobytes = kilobytes(inLine: line) else { return nil }
        return kilobytes * 1024
    }

    /// Memory available for new allocations without swapping (`MemAvailable`: free memory plus the page
    /// cache that can be reclaimed), nil where the system does not say.
    public static func availableBytes() -> Int? { bytes(of: "MemAvailable", in: "/proc/meminfo") }

    /// A one-line error when `needed` bytes for `what` exceed `available` (nil: unknown, never refused).
    public static func refusal(needed: Int, available: Int?, what: String) -> String? {
        guard let available, needed > available else { return nil }
        return "\(what) needs \(needed) bytes (\(gibibytes(needed)) GiB) of memory; only \(available) bytes (\(gibibytes(available)) GiB) are available"
    }

    private static func gibibytes(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / Double(1 << 30)) }
}
