import IMSFIX
import IMSServer
import Testing

/// The FIX sessions file, checked before the server listens: every fault names the session and field.
struct FIXGatewaySettingsTests {
    @Test func faultsNameTheSessionAndField() {
        let settings = FIXGatewaySettings(
            compId: "IMS",
            sessions: [
                .init(targetCompId: "OMS", keyId: "k1"), .init(targetCompId: "OMS", keyId: "k2"), .init(targetCompId: "HF2"),
                .init(targetCompId: "HF3", keyId: "k3", start: "25:00", end: "18:00", heartbeatSeconds: 0),
                .init(targetCompId: "HF4", keyId: "k4", start: "08:00"),
            ])
        let problems = settings.problems(authenticated: true)
        #expect(problems.contains("sessions[1] (OMS): targetCompId repeats another session's"))
        #expect(problems.contains("sessions[2] (HF2).keyId is required: the Logon proves the session with that API key"))
        #expect(problems.contains("sessions[3] (HF3).start 25:00 is not HH:MM"))
        #expect(problems.contains("sessions[3] (HF3).heartbeatSeconds 0 must be 1 to 300"))
        #expect(problems.contains("sessions[4] (HF4): start and end go together"))
        #expect(problems.count == 5)
        #expect(
            FIXGatewaySettings(compId: "IMS", sessions: [.init(targetCompId: "OMS")]).problems(authenticated: false) == [
                "sessions[0] (OMS).clientId is required without authentication"
            ])
    }

    @Test func eachSessionsSettingsAreTheSessionLayers() {
        let settings = FIXGatewaySettings(
            compId: "PB",
            sessions: [.init(targetCompId: "OMS", keyId: "k", start: "06:30", end: "22:00", heartbeatSeconds: 15), .init(targetCompId: "B", keyId: "k")])
        let layer = settings.sessionSettings
        #expect(layer[0].senderCompID == "PB" && layer[0].targetCompID == "OMS")
        #expect(layer[0].schedule == FIXSchedule(start: 6 * 3600 + 1800, end: 22 * 3600))
        #expect(layer[0].heartbeatRange == 15...15)
        #expect(layer[1].schedule == nil && layer[1].heartbeatRange == 1...300)
    }
}
