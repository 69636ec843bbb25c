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
        try withFile(path) { fd, size in
            #if canImport(Glibc)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            #endif
            return try cachedFraction(fd: fd, size: size, path: path)
        }
    }

    /// The fraction of `path`'s pages in the page cache (`mincore` of a fresh mapping), 0…1.
    public static func cachedFraction(_ path: String) throws -> Double {
        try withFile(path) { fd, size in try cachedFraction(fd: fd, size: size, path: path) }
    }

    private static func withFile<T>(_ path: String, _ body: (Int32, Int) throws -> T) throws -> T {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MappedFile.OpenError(description: "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MappedFile.OpenError(description: "\(path): cannot stat: \(String(cString: strerror(errno)))") }
        return try body(fd, Int(info.st_size))
    }

    private static func cachedFraction(fd: Int32, size: Int, path: String) throws -> Double {
        guard size > 0 else { return 0 }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw MappedFile.OpenError(description: "\(path): cannot map: \(String(cString: strerror(errno)))")
        }
        defer { munmap(mapped, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page
        var vector = [UInt8](repeating: 0, count: pages)
        guard mincore(mapped, size, &vector) == 0 else {
            throw MappedFile.OpenError(description: "\(path): mincore failed: \(String(cString: strerror(errno)))")
        }
        return Double(vector.reduce(0) { $0 + Int($1 & 1) }) / Double(pages)
    }
}
