// UI strings. English and Simplified Chinese; the language follows ?lang= or the browser.
// Keep every user-visible sentence here so a translation is one table, not a code change.

const STRINGS = {
  en: {
    title: "Consultation room",
    roomLabel: "Room {room}",
    noToken: "This link has no access token. Ask the consultation centre for a new link.",
    badToken: "This link's access token cannot be read. Ask the consultation centre for a new link.",
    tokenExpired: "This link has expired. Ask the consultation centre for a new link.",
    wrongRoom: "This link's token is for another room ({room}).",
    previewStarting: "Starting camera and microphone…",
    previewReady: "Check your camera and microphone, then join.",
    previewAudioOnly: "No camera found: you will join with the microphone only.",
    previewFailed: "Camera and microphone are unavailable ({error}). You can still join to watch and listen.",
    previewInsecure: "This page's address is not secure (https://), so the browser gives it no camera or microphone. Ask the consultation centre for an https:// link. You can still join to watch and listen.",
    observerNote: "You join as {role}: you see and hear the room; your camera and microphone are not used.",
    joinButton: "Join consultation",
    connecting: "Connecting…",
    joining: "Joining the room…",
    inRoom: "In the room",
    reconnecting: "Connection lost. Reconnecting…",
    mediaUnstable: "The audio/video connection is unstable…",
    connectError: "Could not connect: {message}",
    joinError: "Could not join: {message}",
    publishError: "Your camera could not be sent: {message}",
    left: "You left the consultation.",
    removed: "You were removed from the room ({reason}).",
    ended: "The consultation has ended ({reason}).",
    disconnected: "Disconnected from the server.",
    you: "you",
    recording: "This consultation is being recorded for the medical record.",
    mute: "Mute microphone",
    unmute: "Unmute microphone",
    cameraOff: "Turn camera off",
    cameraOn: "Turn camera on",
    leave: "Leave",
    endRoom: "End consultation",
    endRoomConfirm: "End the consultation for everyone?",
    remove: "Remove",
    removeConfirm: "Remove {name} from the room?",
    participants: "Participants",
    micOff: "mic off",
    camOff: "camera off",
    noMedia: "not sending audio or video",
    waitingVideo: "Waiting for video…",
    playBlocked: "Click to start audio and video",
    rejoin: "Join again",
    roles: {
      patient: "patient", doctor: "doctor", expert: "expert", coordinator: "coordinator",
      interpreter: "interpreter", observer: "observer", recorder: "recorder",
    },
  },
  zh: {
    title: "会诊室",
    roomLabel: "会诊室 {room}",
    noToken: "此链接缺少访问令牌，请联系会诊中心获取新链接。",
    badToken: "无法读取此链接的访问令牌，请联系会诊中心获取新链接。",
    tokenExpired: "此链接已过期，请联系会诊中心获取新链接。",
    wrongRoom: "此链接的令牌属于另一个会诊室（{room}）。",
    previewStarting: "正在启动摄像头和麦克风…",
    previewReady: "请检查摄像头和麦克风，然后加入。",
    previewAudioOnly: "未找到摄像头：将仅使用麦克风加入。",
    previewFailed: "摄像头和麦克风不可用（{error}）。您仍可加入观看和收听。",
    previewInsecure: "此页面地址不安全（不是 https://），浏览器不允许其使用摄像头和麦克风。请向会诊中心索取 https:// 链接。您仍可加入观看和收听。",
    observerNote: "您以{role}身份加入：可以看到和听到会诊，不使用您的摄像头和麦克风。",
    joinButton: "加入会诊",
    connecting: "正在连接…",
    joining: "正在加入会诊室…",
    inRoom: "已在会诊室中",
    reconnecting: "连接中断，正在重新连接…",
    mediaUnstable: "音视频连接不稳定…",
    connectError: "无法连接：{message}",
    joinError: "无法加入：{message}",
    publishError: "无法发送您的视频：{message}",
    left: "您已离开会诊。",
    removed: "您已被移出会诊室（{reason}）。",
    ended: "会诊已结束（{reason}）。",
    disconnected: "与服务器的连接已断开。",
    you: "我",
    recording: "本次会诊正在录制，将存入病历。",
    mute: "关闭麦克风",
    unmute: "打开麦克风",
    cameraOff: "关闭摄像头",
    cameraOn: "打开摄像头",
    leave: "离开",
    endRoom: "结束会诊",
    endRoomConfirm: "为所有人结束本次会诊？",
    remove: "移出",
    removeConfirm: "将 {name} 移出会诊室？",
    participants: "参会人员",
    micOff: "麦克风已关",
    camOff: "摄像头已关",
    noMedia: "未发送音视频",
    waitingVideo: "等待视频…",
    playBlocked: "点击开始播放声音和视频",
    rejoin: "重新加入",
    roles: {
      patient: "患者", doctor: "医生", expert: "专家", coordinator: "协调员",
      interpreter: "翻译", observer: "观察员", recorder: "录制",
    },
  },
};

function pickLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  const wanted = [asked, ...(navigator.languages || [navigator.language])].filter(Boolean);
  for (const tag of wanted) {
    const base = tag.toLowerCase().split("-")[0];
    if (base in STRINGS) return base;
  }
  return "en";
}

export const lang = pickLanguage();
const table = STRINGS[lang];

/** The string for `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = table[key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function roleName(role) {
  return table.roles[role] ?? STRINGS.en.roles[role] ?? String(role);
}
