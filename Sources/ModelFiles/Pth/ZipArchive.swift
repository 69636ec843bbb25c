/// The entries of a zip archive as torch.save writes it: located through the central directory
/// (zip64 when present), stored (uncompressed) data read in place.
struct ZipArchive {
    struct Entry {
        let name: String
        /// Byte range of the entry's data in the file.
        let data: Range<Int>
        let method: UInt16
    }

    let entries: [Entry]

    init(path: String, bytes: UnsafeRawBufferPointer) throws {
        var reader = ByteReader(path: path, bytes: bytes)
        let eocd = try Self.findEndOfCentralDirectory(reader)
        try reader.seek(to: eocd + 10, "end of central directory")
        var entryCount = UInt64(try reader.read(UInt16.self, "entry count"))
        var directorySize = UInt64(try reader.read(UInt32.self, "central directory size"))
        var directoryOffset = UInt64(try reader.read(UInt32.self, "central directory offset"))

        // The central directory ends where the end-of-directory records begin.
        var directoryLimit = UInt64(eocd)
        // zip64: a locator 20 bytes before the classic record points at the zip64 record.
        if eocd >= 20, bytes.loadUnaligned(fromByteOffset: eocd - 20, as: UInt32.self) == 0x0706_4B50 {
            try reader.seek(to: eocd - 20 + 8, "zip64 locator")
            let recordOffset = try reader.read(UInt64.self, "zip64 record offset")
            guard recordOffset <= UInt64(eocd - 20) else { throw reader.error("zip64 record offset \(recordOffset) is not before its locator at \(eocd - 20)") }
            directoryLimit = recordOffset
            try reader.seek(to: Int(recordOffset), "zip64 record")
            guard try reader.read(UInt32.self, "zip64 record signature") == 0x0606_4B50 else { throw reader.error("bad zip64 end-of-directory record") }
            try reader.skip(8 + 2 + 2 + 4 + 4 + 8, "zip64 record")
            entryCount = try reader.read(UInt64.self, "zip64 entry count")
            directorySize = try reader.read(UInt64.self, "zip64 directory size")
            directoryOffset = try reader.read(UInt64.self, "zip64 directory offset")
        }
        guard directoryOffset <= directoryLimit, directorySize <= directoryLimit - directoryOffset,
              entryCount <= directorySize / 46 else {
            throw reader.error("corrupt zip central directory (\(entryCount) entries, \(directorySize) bytes at \(directoryOffset); the end-of-directory record is at \(directoryLimit))")
        }
        let directoryEnd = Int(directoryOffset + directorySize)
        try reader.seek(to: Int(directoryOffset), "central directory")
        var entries: [Entry] = []
        for _ in 0..<Int(entryCount) {
            guard try reader.read(UInt32.self, "central directory entry") == 0x0201_4B50 else {
                throw reader.error("bad central directory entry signature at offset \(reader.offset - 4)")
            }
            try reader.skip(6, "entry header")
            let method = try reader.read(UInt16.self, "compression method")
            try reader.skip(8, "entry header")
            var compressedSize = UInt64(try reader.read(UInt32.self, "compressed size"))
            var size = UInt64(try reader.read(UInt32.self, "size"))
            let nameLength = Int(try reader.read(UInt16.self, "name length"))
            let extraLength = Int(try reader.read(UInt16.self, "extra length"))
            let commentLength = Int(try reader.read(UInt16.self, "comment length"))
            try reader.skip(8, "entry header")
            var localOffset = UInt64(try reader.read(UInt32.self, "local header offset"))
            let name = try reader.readString(nameLength, "entry name")
            var extra = ByteReader(path: path, bytes: try reader.readBytes(extraLength, "extra field of \(name)"))
            while extra.remaining >= 4 {
                let id = try extra.read(UInt16.self, "extra id")
                let length = Int(try extra.read(UInt16.self, "extra length"))
                var field = ByteReader(path: path, bytes: try extra.readBytes(length, "extra field of \(name)"))
                guard id == 0x0001 else { continue }
                if size == 0xFFFF_FFFF { size = try field.read(UInt64.self, "zip64 size of \(name)") }
                if compressedSize == 0xFFFF_FFFF { compressedSize = try field.read(UInt64.self, "zip64 compressed size of \(name)") }
                if localOffset == 0xFFFF_FFFF { localOffset = try field.read(UInt64.self, "zip64 offset of \(name)") }
            }
            try reader.skip(commentLength, "comment of \(name)")

            // The data starts after the local header, whose own name and extra lengths count.
            guard localOffset <= UInt64(max(0, bytes.count - 30)) else { throw reader.error("entry '\(name)' local header offset \(localOffset) is outside the file") }
            var local = ByteReader(path: path, bytes: bytes, offset: Int(localOffset))
            guard try local.read(UInt32.self, "local header of \(name)") == 0x0403_4B50 else {
                throw reader.error("bad local header signature for entry '\(name)'")
            }
            try local.skip(22, "local header of \(name)")
            let localName = Int(try local.read(UInt16.self, "local name length"))
            let localExtra = Int(try local.read(UInt16.self, "local extra length"))
            try local.skip(localName + localExtra, "local header of \(name)")
            let start = local.offset
            guard start <= Int(directoryOffset), compressedSize <= directoryOffset - UInt64(start) else {
                throw reader.error("entry '\(name)' (\(compressedSize) bytes at \(start)) extends past the start of the central directory at \(directoryOffset)")
            }
            guard method != 0 || compressedSize == size else { throw reader.error("stored entry '\(name)' has mismatched sizes") }
            entries.append(Entry(name: name, data: start..<(start + Int(compressedSize)), method: method))
        }
        guard reader.offset == directoryEnd else {
            throw reader.error("zip central directory says \(directorySize) bytes, but its \(entryCount) entries take \(reader.offset - Int(directoryOffset))")
        }
        self.entries = entries
    }

    static func findEndOfCentralDirectory(_ reader: ByteReader) throws -> Int {
        let bytes = reader.bytes
        guard bytes.count >= 22 else { throw reader.error("too short to be a zip archive") }
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while position >= lowest {
            if bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self) == 0x0605_4B50 { return position }
            position -= 1
        }
        throw reader.error("no zip end-of-central-directory record (truncated?)")
    }
}
