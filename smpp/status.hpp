// SMPP 3.4 command_status values (§5.1.3) that smsgate sends or reads.
#pragma once

#include <cstdint>
#include <string>

namespace smsgate::smpp::status {

inline constexpr uint32_t ESME_ROK = 0x00000000;
inline constexpr uint32_t ESME_RINVMSGLEN = 0x00000001;
inline constexpr uint32_t ESME_RINVCMDLEN = 0x00000002;
inline constexpr uint32_t ESME_RINVCMDID = 0x00000003;
inline constexpr uint32_t ESME_RINVBNDSTS = 0x00000004;
inline constexpr uint32_t ESME_RALYBND = 0x00000005;
inline constexpr uint32_t ESME_RINVPRTFLG = 0x00000006;
inline constexpr uint32_t ESME_RINVREGDLVFLG = 0x00000007;
inline constexpr uint32_t ESME_RSYSERR = 0x00000008;
inline constexpr uint32_t ESME_RINVSRCADR = 0x0000000A;
inline constexpr uint32_t ESME_RINVDSTADR = 0x0000000B;
inline constexpr uint32_t ESME_RINVMSGID = 0x0000000C;
inline constexpr uint32_t ESME_RBINDFAIL = 0x0000000D;
inline constexpr uint32_t ESME_RINVPASWD = 0x0000000E;
inline constexpr uint32_t ESME_RINVSYSID = 0x0000000F;
inline constexpr uint32_t ESME_RCANCELFAIL = 0x00000011;
inline constexpr uint32_t ESME_RREPLACEFAIL = 0x00000013;
inline constexpr uint32_t ESME_RMSGQFUL = 0x00000014;
inline constexpr uint32_t ESME_RINVSERTYP = 0x00000015;
inline constexpr uint32_t ESME_RINVNUMDESTS = 0x00000033;
inline constexpr uint32_t ESME_RINVDLNAME = 0x00000034;
inline constexpr uint32_t ESME_RINVDESTFLAG = 0x00000040;
inline constexpr uint32_t ESME_RINVSUBREP = 0x00000042;
inline constexpr uint32_t ESME_RINVESMCLASS = 0x00000043;
inline constexpr uint32_t ESME_RCNTSUBDL = 0x00000044;
inline constexpr uint32_t ESME_RSUBMITFAIL = 0x00000045;
inline constexpr uint32_t ESME_RINVSRCTON = 0x00000048;
inline constexpr uint32_t ESME_RINVSRCNPI = 0x00000049;
inline constexpr uint32_t ESME_RINVDSTTON = 0x00000050;
inline constexpr uint32_t ESME_RINVDSTNPI = 0x00000051;
inline constexpr uint32_t ESME_RINVSYSTYP = 0x00000053;
inline constexpr uint32_t ESME_RINVREPFLAG = 0x00000054;
inline constexpr uint32_t ESME_RINVNUMMSGS = 0x00000055;
inline constexpr uint32_t ESME_RTHROTTLED = 0x00000058;
inline constexpr uint32_t ESME_RINVSCHED = 0x00000061;
inline constexpr uint32_t ESME_RINVEXPIRY = 0x00000062;
inline constexpr uint32_t ESME_RINVDFTMSGID = 0x00000063;
inline constexpr uint32_t ESME_RX_T_APPN = 0x00000064;
inline constexpr uint32_t ESME_RX_P_APPN = 0x00000065;
inline constexpr uint32_t ESME_RX_R_APPN = 0x00000066;
inline constexpr uint32_t ESME_RQUERYFAIL = 0x00000067;
inline constexpr uint32_t ESME_RINVOPTPARSTREAM = 0x000000C0;
inline constexpr uint32_t ESME_ROPTPARNOTALLWD = 0x000000C1;
inline constexpr uint32_t ESME_RINVPARLEN = 0x000000C2;
inline constexpr uint32_t ESME_RMISSINGOPTPARAM = 0x000000C3;
inline constexpr uint32_t ESME_RINVOPTPARAMVAL = 0x000000C4;
inline constexpr uint32_t ESME_RDELIVERYFAILURE = 0x000000FE;
inline constexpr uint32_t ESME_RUNKNOWNERR = 0x000000FF;

// "ESME_RTHROTTLED"; "0x00000401" style hex for values it does not name.
std::string status_name(uint32_t status);

}  // namespace smsgate::smpp::status
