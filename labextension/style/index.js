import '@xyflow/react/dist/style.css';
import '@xterm/xterm/css/xterm.css';
import './base.css';
import './editor.css';
import './experiments.css';
import './services.css';
import './images.css';
import './admin.css';
