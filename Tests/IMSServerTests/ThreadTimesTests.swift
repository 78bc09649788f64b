import Foundation
import IMSDomain
import Synchronization
import Testing

@testable import IMSServer

/// `ims_thread_cpu_seconds` and `ims_thread_voluntary_switches`: the threads' figures as the kernel keeps them.
struct ThreadTimesTests {
    @Test func aStatLineIsReadAfterItsNameWhateverTheNameHolds() throws {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100"
        let parsed = try #require(ThreadTimes.parse(stat: line, ticksPerSecond: 100))
        #expect(parsed.name == "a (b) c" && parsed.cpuSeconds == 3.0)
        #expect(ThreadTimes.parse(stat: "4242 (short) S 1 2", ticksPerSecond: 100) == nil)
        let status = "Name:\tims-journal\nvoluntary_ctxt_switches:\t42\nnonvoluntary_ctxt_switches:\t7\n"
        #expect(ThreadTimes.voluntarySwitches(status: status) == 42)
    }

    #if os(Linux)
        @Test func aNamedThreadsCPUAndWaitsAreCounted() throws {
            let stop = Atomic<Bool>(false)
            let done = DispatchSemaphore(value: 0)
            Thread.named("cpu-probe") {
                // Busy for a while, then waits a few times.
                let end = Date().addingTimeInterval(0.3)
                var x = 0
                while Date() < end { x &+= 1 }
                for _ in 0..<5 { usleep(2_000) }
                while !stop.load(ordering: .relaxed) { usleep(1_000) }
                if x == 42 { print(x) }
                done.signal()
            }.start()
            defer {
                stop.store(true, ordering: .relaxed)
                done.wait()
            }
            var probe: ThreadTimes?
            for _ in 0..<200 {
                probe = ThreadTimes.byName().first { $0.name == "cpu-probe" }
                if let p = probe, p.cpuSeconds >= 0.2, p.voluntarySwitches >= 5 { break }
                usleep(10_000)
            }
            let p = try #require(probe, "the named thread is listed")
            #expect(p.cpuSeconds >= 0.2 && p.voluntarySwitches >= 5, "\(p)")
        }
    #endif
}
