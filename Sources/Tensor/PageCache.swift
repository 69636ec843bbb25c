#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kernel's cache of a file's pages: how much of a file is cached, and dropping it (for cold-load
/// measurements, as `vmtouch -e` does).
public enum PageCache {
    /// Asks the kernel to drop `path`'s cached pages (`posix_fadvise(DONTNEED)`; pages something still maps
    /// stay) and returns the fraction of the file still cached afterwards.
    public static func drop(_ path: String) throws -> Double {
        #if canImport(Glibc)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MappedFile.OpenError(description: "\(path): cannot open: \(String(cString: strerror(errno)))") }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        close(fd)
        #endif
        return try cachedFraction(path)
    }

    /// The fraction of `path`'s pages in the page cache (`mincore` of a fresh mapping, which faults nothing
    /// in), 0…1.
    public static func cachedFraction(_ path: String) throws -> Double {
        let file = try MappedFile(path: path)
        guard let base = file.base else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (file.byteCount + page - 1) / page)
        guard mincore(UnsafeMutableRawPointer(mutating: base), file.byteCount, &vector) == 0 else {
            throw MappedFile.OpenError(description: "\(path): mincore failed: \(String(cString: strerror(errno)))")
        }
        return Double(vector.reduce(0) { $0 + Int($1 & 1) }) / Double(vector.count)
    }
}
